"""full_cloud mode: the stream, epoch and frame number a JPEG frame carries in its header.frame_id.

A CompressedImage has no fields for them, so the edge writes "stream_id:epoch:frame_seq" into
header.frame_id and the cloud parses it back. The text comes off the wire: the parser accepts only
ASCII digits (no sign, no "_" or spaces that int() would take) and checks every part's range, so
"r:-1:3" or a 20-digit frame number is a clear ValueError, never a value that overflows later.
This id is not authenticated (a CompressedImage has no tag field): see docs/reliability.md.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from prosem_core.field_checks import (
    MAX_FRAME_ID_CHARS,
    FieldError,
    check_epoch,
    check_frame_seq,
    check_stream_id,
    clip,
)

_DIGITS = re.compile(r"[0-9]{1,10}")  # uint32 has at most 10 decimal digits


@dataclass(frozen=True)
class JpegFrameId:
    stream_id: str
    epoch: int
    frame_seq: int


def format_jpeg_frame_id(stream_id: str, epoch: int, frame_seq: int) -> str:
    """The frame_id the edge writes (checked, so the cloud can always parse what an edge sends)."""
    return f"{check_stream_id(stream_id)}:{check_epoch(epoch)}:{check_frame_seq(frame_seq)}"


def parse_jpeg_frame_id(frame_id: str) -> JpegFrameId:
    """Inverse of format_jpeg_frame_id. Raises FieldError (a ValueError) naming what is wrong."""
    if not isinstance(frame_id, str) or len(frame_id) > MAX_FRAME_ID_CHARS:
        raise FieldError("frame_id", f"not a JPEG frame id (text of at most {MAX_FRAME_ID_CHARS} characters)")
    parts = frame_id.rsplit(":", 2)
    if len(parts) != 3:
        raise FieldError("frame_id", f"{clip(frame_id)!r} is not 'stream_id:epoch:frame_seq'")
    stream_id, epoch_text, seq_text = parts
    for name, text in (("epoch", epoch_text), ("frame_seq", seq_text)):
        if not _DIGITS.fullmatch(text):
            raise FieldError(name, f"{clip(text)!r} in frame_id is not a decimal number of 1..10 digits")
    return JpegFrameId(check_stream_id(stream_id), check_epoch(int(epoch_text)), check_frame_seq(int(seq_text)))
