"""Checks of a query before any model sees it: a bounded question and in-range request fields.

A question is user text off the wire: a 10 MB question once took seconds to route and was echoed
back in a 9.6 MB answer, and a NUL cut it silently in the middleware. `check_question` refuses
what is too long before looking at it (length first: O(1)), refuses control characters other than
tab/newline/carriage return (with a message saying which and where), and folds every run of
whitespace into one space. `check_query` does the same for the other request fields and returns the
values the node uses. Both raise BadRequest (a ValueError) whose `code` is Query.ERROR_BAD_REQUEST.
"""
from __future__ import annotations

import math
import re
from typing import Any

from prosem_core import wire_codes
from prosem_core.field_checks import FRAME_SEQ_LIMIT, FieldError, check_stream_id, clip
from prosem_core.query_types import QueryRequest

MAX_QUESTION_CHARS = 1000  # a spoken or typed question is well under this; configurable per call
# C0 and C1 control characters except tab, newline and carriage return (those are whitespace).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class BadRequest(ValueError):
    """A query the node must refuse; `code` goes into the response's error_code."""

    code = wire_codes.ERROR_BAD_REQUEST


def check_question(question: Any, max_chars: int = MAX_QUESTION_CHARS) -> str:
    """The question with whitespace runs folded to one space; BadRequest if empty, too long or with control characters."""
    if not isinstance(question, str):
        raise BadRequest(f"the question must be text, got {type(question).__name__}")
    if len(question) > max_chars:
        raise BadRequest(f"question of {len(question)} characters; at most {max_chars} are accepted: ask a shorter question")
    bad = _CONTROL.search(question)
    if bad:
        raise BadRequest(f"question contains the control character U+{ord(bad.group()):04X} at position {bad.start()}: "
                         "send plain text")
    normalised = " ".join(question.split())
    if not normalised:
        raise BadRequest("empty question")
    return normalised


def check_query(question: Any, stream_id: Any = "", frame_seq: Any = -1, min_fidelity: Any = 0.0, timeout_s: Any = 0.0,
                max_new_tokens: Any = 0, *, max_question_chars: int = MAX_QUESTION_CHARS,
                max_timeout_s: float = 30.0, namespace: str = "") -> QueryRequest:
    """Every field of a Query request (service or action goal), checked, as the request the session
    runs (timeout capped at max_timeout_s). Raises BadRequest saying which field and why."""
    text = check_question(question, max_question_chars)
    if stream_id != "":
        try:
            stream_id = check_stream_id(stream_id)
        except FieldError as exc:
            raise BadRequest(str(exc)) from None
    if isinstance(frame_seq, bool) or not isinstance(frame_seq, int) or not -1 <= frame_seq < FRAME_SEQ_LIMIT:
        raise BadRequest(f"frame_seq {clip(str(frame_seq))}: use a frame number in [0, {FRAME_SEQ_LIMIT - 1}], "
                         "or -1 for the latest")
    fidelity = _number("min_fidelity", min_fidelity)
    if not 0.0 <= fidelity <= 1.0:
        raise BadRequest(f"min_fidelity {fidelity!r} outside [0, 1]")
    timeout = _number("timeout_s", timeout_s, allow_inf=True)  # +inf: as long as the node allows
    if not timeout >= 0.0:
        raise BadRequest(f"timeout_s {timeout!r} must be >= 0")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or not 0 <= max_new_tokens < 1 << 16:
        raise BadRequest(f"max_new_tokens {clip(str(max_new_tokens))} outside [0, 65535]")
    return QueryRequest(text, stream_id, frame_seq, fidelity, min(timeout, max_timeout_s), max_new_tokens, namespace)


def _number(name: str, value: Any, allow_inf: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a number, got {type(value).__name__}") from None
    if math.isnan(number) or (math.isinf(number) and not allow_inf):
        raise BadRequest(f"{name} {number!r} must be a finite number")
    return number
