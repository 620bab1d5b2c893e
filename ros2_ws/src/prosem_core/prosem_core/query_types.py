"""A query and its result as plain data: the one definition the service, the action, the session
and the benchmarks share (the glue copies these fields to and from prosem_msgs Query messages)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import IntEnum

from prosem_core import wire_codes

# Why a query failed: the ERROR_* numbers of prosem_core.wire_codes (which a test checks against the
# Query interface files), as an enum for readable code and logs.
ErrorCode = IntEnum("ErrorCode", {name.removeprefix("ERROR_"): value for name, value in vars(wire_codes).items()
                                  if name.startswith("ERROR_")})


@dataclass
class QueryRequest:
    question: str
    stream_id: str = ""  # "" = the only stream, the namespace's, or the configured default
    frame_seq: int = -1  # -1 = the latest frame held
    min_fidelity: float = 0.0
    timeout_s: float = 2.0
    max_new_tokens: int = 0  # 0 = the answerer's default
    namespace: str = ""  # namespace the query arrived on (picks that robot's stream when stream_id is "")


@dataclass
class QueryResult:
    success: bool = False
    error: str = ""
    error_code: int = wire_codes.ERROR_NONE
    answer: str = ""
    confidence: float = 0.0
    frame_seq: int = -1
    layers_used: int = 0
    bytes_used: int = 0
    fidelity: float = 0.0
    latency_s: float = 0.0
    fidelity_reached: bool = False
    stream_id: str = ""

    @classmethod
    def failure(cls, code: ErrorCode, error: str, **fields) -> QueryResult:
        return cls(success=False, error=error, error_code=int(code), **fields)


# Fields of the service response / action result, in message order.
RESULT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(QueryResult))
# Fields of an action feedback message taken from a (partial) result.
FEEDBACK_FIELDS: tuple[str, ...] = ("answer", "confidence", "frame_seq", "layers_used", "bytes_used", "fidelity")
