"""prosem_core.wire_codes mirrors the constants of the interface files (parsed as text: no ROS here)."""
import re
from pathlib import Path

from prosem_core import wire_codes

MSGS = Path(__file__).resolve().parents[2] / "ros2_ws" / "src" / "prosem_msgs"


def _constants(path: Path, prefix: str) -> dict[str, int]:
    found = re.findall(rf"^uint\d+\s+({prefix}\w+)\s*=\s*(\d+)", path.read_text(), flags=re.MULTILINE)
    return {name: int(value) for name, value in found}


def test_feedback_statuses_match_the_message():
    in_msg = _constants(MSGS / "msg" / "LayerFeedback.msg", "STATUS_")
    assert len(in_msg) == 4
    assert {name: getattr(wire_codes, name) for name in in_msg} == in_msg


def test_query_error_codes_match_the_service():
    in_srv = _constants(MSGS / "srv" / "Query.srv", "ERROR_")
    assert len(in_srv) == 11
    assert {name: getattr(wire_codes, name) for name in in_srv} == in_srv
