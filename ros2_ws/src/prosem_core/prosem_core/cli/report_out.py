"""Where a benchmark's JSON report goes: a file (folders made, a line on stderr) or stdout."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def write_report(report: dict, path: str | None, indent: int = 2, note: str = "") -> None:
    text = json.dumps(report, indent=indent)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")
        print(f"wrote {path}{note}", file=sys.stderr)
    else:
        print(text)
