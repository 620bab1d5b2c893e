"""Range checks for every field a message brings, before anything uses it.

A middleware hands over whatever a sender put in a field: a uint64 frame_seq of 2^63 that later
overflows an int64 response field, a negative epoch parsed from text, a 100 KB frame_id copied into
every layer. The nodes call these plain functions on each received message (the Assembler and the
EdgeSession call them again on what they are given) and turn a FieldError into a counted rejection.

Limits and why:
- frame_seq < 2^32: the layer header (and the fp16 chunk header) holds 32 bits of it, so larger values
  cannot be vouched for by the payload; an edge starts a new epoch before its counter gets there.
- epoch: uint32, as on the wire.
- layer_count 1..32 (LayerFeedback.received_mask is a uint32), layer_index < layer_count.
- identifiers (stream_id, codec_id, codebook_id, frame_id, reason): printable text, capped length.
- stamps: whole nanoseconds, non-negative (ROS Time: sec >= 0, 0 <= nanosec < 1e9); durations finite.
"""
from __future__ import annotations

import math
import operator
from typing import Any

from prosem_core import wire_codes
from prosem_core.auth import TAG_BYTES

FRAME_SEQ_LIMIT = 1 << 32  # exclusive: frame_seq fits the 32-bit header field
UINT32_LIMIT = 1 << 32
MAX_LAYERS = 32
MAX_STREAM_ID_CHARS = 64
MAX_ID_CHARS = 64  # codec_id, codebook_id
MAX_FRAME_ID_CHARS = 256  # camera frame ids are short TF names; this one is copied into every layer
MAX_REASON_CHARS = 256
MAX_TOKEN_SHAPE_DIMS = 4
MAX_TOKEN_SIDE = 1 << 16
MAX_STAMP_NS = (1 << 63) - 1
MAX_HOLD_S = 3600.0
FEEDBACK_STATUSES = (wire_codes.STATUS_OK, wire_codes.STATUS_REJECTED, wire_codes.STATUS_DUPLICATE_STREAM,
                     wire_codes.STATUS_STALE_EPOCH)


class FieldError(ValueError):
    """A message field outside its range; `field` names it so a counter or log can say which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def clip(text: str, max_chars: int = 40) -> str:
    """`text` shortened for an error message or a log line (never echo unbounded input)."""
    return text if len(text) <= max_chars else text[: max_chars - 3] + "..."


def check_int(name: str, value: Any, lo: int, hi_exclusive: int) -> int:
    """An integer (not bool, not float) with lo <= value < hi_exclusive."""
    if isinstance(value, bool):
        raise FieldError(name, "must be an integer, got bool")
    try:
        number = operator.index(value)
    except TypeError:
        raise FieldError(name, f"must be an integer, got {type(value).__name__}") from None
    if not lo <= number < hi_exclusive:
        raise FieldError(name, f"{number} outside [{lo}, {hi_exclusive - 1}]")
    return number


def check_frame_seq(value: Any, name: str = "frame_seq") -> int:
    return check_int(name, value, 0, FRAME_SEQ_LIMIT)


def check_epoch(value: Any) -> int:
    return check_int("epoch", value, 0, UINT32_LIMIT)


def check_uint32(name: str, value: Any) -> int:
    return check_int(name, value, 0, UINT32_LIMIT)


def check_layer_position(index: Any, count: Any) -> tuple[int, int]:
    count = check_int("layer_count", count, 1, MAX_LAYERS + 1)
    index = check_int("layer_index", index, 0, count)
    return index, count


def check_text(name: str, value: Any, max_chars: int, allow_empty: bool = False) -> str:
    """Printable text (no control, separator-line or format characters) of at most max_chars."""
    if not isinstance(value, str):
        raise FieldError(name, f"must be text, got {type(value).__name__}")
    if len(value) > max_chars:
        raise FieldError(name, f"{len(value)} characters, at most {max_chars} allowed")
    if not value and not allow_empty:
        raise FieldError(name, "empty")
    if not value.isprintable():
        raise FieldError(name, f"contains control characters: {clip(repr(value))}")
    return value


def check_stream_id(value: Any) -> str:
    return check_text("stream_id", value, MAX_STREAM_ID_CHARS)


def check_codec_id(value: Any) -> str:
    return check_text("codec_id", value, MAX_ID_CHARS, allow_empty=True)


def check_codebook_id(value: Any) -> str:
    return check_text("codebook_id", value, MAX_ID_CHARS)


def check_frame_id(value: Any) -> str:
    """A camera header's frame_id (the edge copies it into every layer it sends)."""
    return check_text("frame_id", value, MAX_FRAME_ID_CHARS, allow_empty=True)


def check_reason(value: Any) -> str:
    return check_text("reason", value, MAX_REASON_CHARS, allow_empty=True)


def check_token_shape(shape: Any) -> tuple[int, ...]:
    """Empty (not signalled) or up to 4 sides, each 1..65535."""
    try:
        n = len(shape)
    except TypeError:
        raise FieldError("token_shape", f"must be a sequence, got {type(shape).__name__}") from None
    if n > MAX_TOKEN_SHAPE_DIMS:
        raise FieldError("token_shape", f"{n} dimensions, at most {MAX_TOKEN_SHAPE_DIMS}")
    return tuple(check_int("token_shape", side, 1, MAX_TOKEN_SIDE) for side in shape)


def check_seconds(name: str, value: Any, max_s: float = math.inf) -> float:
    """A duration or time in seconds: finite, 0 <= value <= max_s."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise FieldError(name, f"must be a number, got {type(value).__name__}") from None
    if not math.isfinite(seconds) or not 0.0 <= seconds <= max_s:
        raise FieldError(name, f"{seconds!r} must be finite and within [0, {max_s:g}]")
    return seconds


def stamp_ns(sec: Any, nanosec: Any, name: str = "stamp") -> int:
    """A ROS Time's (sec, nanosec) as whole nanoseconds, checked (sec >= 0, nanosec < 1e9)."""
    whole = check_int(name + ".sec", sec, 0, 1 << 31)
    frac = check_int(name + ".nanosec", nanosec, 0, 1_000_000_000)
    return whole * 1_000_000_000 + frac


def check_stamp_ns(name: str, value: Any) -> int:
    return check_int(name, value, 0, MAX_STAMP_NS + 1)


def check_fidelity(value: Any) -> float:
    """The fidelity an encoder signals: NaN (not known) or within [-1, 1] (fp16 chunks use -1)."""
    try:
        fidelity = float(value)
    except (TypeError, ValueError):
        raise FieldError("fidelity", f"must be a number, got {type(value).__name__}") from None
    if math.isnan(fidelity):
        return fidelity
    if not -1.0 <= fidelity <= 1.0:
        raise FieldError("fidelity", f"{fidelity!r} outside [-1, 1]")
    return fidelity


def check_auth_tag(tag: Any) -> bytes:
    data = bytes(tag)
    if len(data) not in (0, TAG_BYTES):
        raise FieldError("auth_tag", f"{len(data)} bytes; a tag is {TAG_BYTES} bytes or empty")
    return data


def check_layer(layer: Any, max_payload_bytes: int) -> None:
    """Every field of a received layer (an assembly.LayerIn or anything with its attributes)."""
    check_stream_id(layer.stream_id)
    check_epoch(layer.epoch)
    check_frame_seq(layer.frame_seq)
    check_layer_position(layer.layer_index, layer.layer_count)
    check_codebook_id(layer.codebook_id)
    check_codec_id(layer.codec_id)
    check_token_shape(layer.token_shape)
    check_fidelity(layer.fidelity)
    check_stamp_ns("send_stamp", layer.send_stamp_ns)
    check_auth_tag(layer.auth_tag)
    if len(layer.payload) > max_payload_bytes:
        raise FieldError("payload", f"{len(layer.payload)} bytes, at most {max_payload_bytes}")


def check_feedback(fb: Any) -> None:
    """Every field of a received LayerFeedback (an auth.FeedbackFields or anything with its attributes)."""
    check_stream_id(fb.stream_id)
    check_frame_seq(fb.frame_seq)
    check_epoch(fb.epoch)
    check_uint32("received_mask", fb.received_mask)
    check_int("prefix_layers", fb.prefix_layers, 0, MAX_LAYERS + 1)
    check_uint32("bytes_received", fb.bytes_received)
    for name in ("stamp_ns", "receive_stamp_ns", "echo_send_stamp_ns"):
        check_stamp_ns(name, getattr(fb, name))
    check_seconds("hold_s", fb.hold_s, MAX_HOLD_S)
    check_uint32("layers_expected", fb.layers_expected)
    check_uint32("layers_arrived", fb.layers_arrived)
    check_int("pull_layers", fb.pull_layers, 0, MAX_LAYERS + 1)
    check_reason(fb.reason)
    if fb.status not in FEEDBACK_STATUSES:
        raise FieldError("status", f"{fb.status!r} is not a LayerFeedback STATUS_* value")
