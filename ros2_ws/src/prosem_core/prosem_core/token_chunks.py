"""The `full_tokens` baseline's wire format: a frame's visual tokens as fp16, cut into chunks.

The uncompressed reference the codec is compared with: 49 x 1280 tokens are 125,440 bytes in fp16,
more than one DDS message should carry (64 KiB), so each frame goes as a few chunks of whole token
rows, each a SemanticLayer (codec_id FP16_CODEC_ID, layer_index = chunk index). A chunk starts with
its own header, so the cloud's Assembler (dedup, bounds, eviction, auth, pulls) treats chunks like
codec layers: `read_chunk_header` plays the codec's `read_header` and `join_chunks` its `decode`.
Only a whole frame decodes (the answer comes from the exact tokens), so a chunk prefix short of the
last chunk reports fidelity PARTIAL_FIDELITY (< 0): no min_fidelity is ever met by a partial frame.
"""
from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FP16_CODEC_ID = "prosem-fp16/1"
FP16_CODEBOOK_ID = "fp16-raw"  # no codebook: the assembler still checks that sender and receiver agree
MAX_CHUNK_BYTES = 32 << 10  # payload per message; well under 64 KiB with headers
MAX_CHUNKS = 32  # LayerFeedback.received_mask is a uint32
PARTIAL_FIDELITY = -1.0

_MAGIC = b"PF16"
_HEADER = struct.Struct("<4sBIBBHHH")  # magic, version, frame_seq, index, count, tokens, dim, first row
HEADER_SIZE = _HEADER.size


class ChunkError(ValueError):
    pass


@dataclass(frozen=True)
class ChunkHeader:
    """The fields the Assembler and the edge read from a codec LayerHeader, for a chunk."""

    frame_seq: int
    layer_index: int
    layer_count: int
    token_shape: tuple[int, int]
    first_row: int
    codebook_id: str = FP16_CODEBOOK_ID
    keyframe: bool = True
    ref_frame_seq: int = 0

    @property
    def fidelity(self) -> float:
        """Whole frame (the last chunk closes the prefix): exact up to fp16; before that, unusable."""
        return 1.0 if self.layer_index == self.layer_count - 1 else PARTIAL_FIDELITY


def chunk_count(tokens: int, dim: int, max_chunk_bytes: int = MAX_CHUNK_BYTES) -> int:
    """Fewest chunks of whole rows that each fit max_chunk_bytes with their header."""
    per_chunk = max(1, (max_chunk_bytes - HEADER_SIZE) // (dim * 2))
    count = math.ceil(tokens / per_chunk)
    if not 0 < count <= MAX_CHUNKS:
        raise ChunkError(f"{tokens} x {dim} tokens need {count} chunks (1..{MAX_CHUNKS} allowed)")
    return count


def chunk_rows(tokens: int, count: int) -> list[tuple[int, int]]:
    """(first row, rows) of each of `count` chunks: whole token rows, as even as possible (the
    receiver recomputes this from the header's token count and chunk count)."""
    bounds = np.linspace(0, tokens, count + 1).round().astype(int)
    return [(int(a), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:])]


def split_tokens(tokens: np.ndarray, frame_seq: int, max_chunk_bytes: int = MAX_CHUNK_BYTES) -> list[bytes]:
    """Tokens [T, D] -> chunks (header + fp16 rows, little-endian)."""
    x = np.asarray(tokens)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0 or not 0 <= int(frame_seq) <= 0xFFFFFFFF:
        raise ChunkError(f"need tokens [T, D] and a uint32 frame_seq, got shape {x.shape}, seq {frame_seq}")
    t, d = x.shape
    if t > 0xFFFF or d > 0xFFFF:
        raise ChunkError(f"token shape {x.shape} too large")
    half = x.astype("<f2")
    rows = chunk_rows(t, chunk_count(t, d, max_chunk_bytes))
    return [_HEADER.pack(_MAGIC, 1, int(frame_seq), i, len(rows), t, d, first) + half[first:first + n].tobytes()
            for i, (first, n) in enumerate(rows)]


def read_chunk_header(chunk: bytes) -> ChunkHeader:
    """The chunk's header, checked against its own length; raises ChunkError."""
    if len(chunk) < HEADER_SIZE:
        raise ChunkError(f"chunk of {len(chunk)} bytes is shorter than its header")
    magic, version, seq, index, count, t, d, first = _HEADER.unpack_from(chunk)
    if magic != _MAGIC or version != 1:
        raise ChunkError("not a prosem fp16 token chunk")
    if not (0 < count <= min(MAX_CHUNKS, t) and index < count and d > 0):
        raise ChunkError(f"bad chunk {index} of {count} for {t} x {d} tokens")
    expected = chunk_rows(t, count)
    if expected[index][0] != first:
        raise ChunkError(f"chunk {index} of {count} starts at row {first}, not a valid split of {t} rows")
    rows = expected[index][1]
    if len(chunk) - HEADER_SIZE != rows * d * 2:
        raise ChunkError(f"chunk {index} holds {len(chunk) - HEADER_SIZE} bytes, {rows} rows of {d} fp16 need {rows * d * 2}")
    return ChunkHeader(int(seq), int(index), int(count), (int(t), int(d)), int(first))


def join_chunks(chunks: Sequence[bytes]) -> np.ndarray:
    """All chunks of one frame, in order -> float32 tokens [T, D]; raises ChunkError if any is missing."""
    if not chunks:
        raise ChunkError("no chunks")
    headers = [read_chunk_header(bytes(c)) for c in chunks]
    h0 = headers[0]
    if len(chunks) != h0.layer_count:
        raise ChunkError(f"full_tokens frame {h0.frame_seq}: {len(chunks)} of {h0.layer_count} chunks held; "
                         "only a whole frame is answered")
    for i, h in enumerate(headers):
        if (h.layer_index, h.layer_count, h.token_shape, h.frame_seq) != (i, h0.layer_count, h0.token_shape, h0.frame_seq):
            raise ChunkError(f"chunk {i} does not belong with chunk 0 of frame {h0.frame_seq}")
    data = b"".join(bytes(c)[HEADER_SIZE:] for c in chunks)
    return np.frombuffer(data, "<f2").reshape(h0.token_shape).astype(np.float32)
