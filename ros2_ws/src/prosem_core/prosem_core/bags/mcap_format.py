"""MCAP record layout (https://mcap.dev/spec): opcodes, field encoders, and a cursor that reads
fields and says when they run past the bytes that are there (a file cut short)."""
from __future__ import annotations

import struct

MAGIC = b"\x89MCAP0\r\n"
OP_HEADER = 0x01
OP_FOOTER = 0x02
OP_SCHEMA = 0x03
OP_CHANNEL = 0x04
OP_MESSAGE = 0x05
OP_CHUNK = 0x06
OP_MESSAGE_INDEX = 0x07
OP_CHUNK_INDEX = 0x08
OP_STATISTICS = 0x0B
OP_METADATA = 0x0C
OP_METADATA_INDEX = 0x0D
OP_SUMMARY_OFFSET = 0x0E
OP_DATA_END = 0x0F
RECORD_PREFIX = 9  # opcode u8 + length u64
FOOTER_BODY = 20  # summary_start u64, summary_offset_start u64, summary_crc u32
CHUNK_FIXED = 28  # message_start_time, message_end_time, uncompressed_size (u64), uncompressed_crc (u32)



def u16(v: int) -> bytes:
    return struct.pack("<H", v)


def u32(v: int) -> bytes:
    return struct.pack("<I", v)


def u64(v: int) -> bytes:
    return struct.pack("<Q", v)


def string(text: str) -> bytes:
    raw = text.encode()
    return u32(len(raw)) + raw


def string_map(entries: dict[str, str]) -> bytes:
    body = b"".join(string(k) + string(v) for k, v in entries.items())
    return u32(len(body)) + body


def record(op: int, body: bytes) -> bytes:
    return bytes([op]) + u64(len(body)) + body


class Truncated(Exception):
    """A field runs past the end of the bytes that are there."""


class Cursor:
    """Reads MCAP fields from a buffer; raises Truncated when a field runs past its end."""

    def __init__(self, buf: bytes | memoryview, pos: int = 0, end: int | None = None):
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise Truncated()
        out = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack("<H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack("<Q", self.take(8))[0]

    def string(self) -> str:
        return self.take(self.u32()).decode("utf-8", errors="replace")

    def string_map(self) -> dict[str, str]:
        length = self.u32()
        inner = Cursor(self.buf, self.pos, self.pos + length)
        if inner.end > self.end:
            raise Truncated()
        out = {}
        while inner.pos < inner.end:
            key = inner.string()
            out[key] = inner.string()
        self.pos = inner.end
        return out

    def u16_u64_map(self) -> dict[int, int]:
        raw = self.take(self.u32())
        return {k: v for k, v in struct.iter_unpack("<HQ", raw[: len(raw) - len(raw) % 10])}


