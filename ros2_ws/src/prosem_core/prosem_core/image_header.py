"""Size of a compressed image from its first bytes, before any decoder allocates its pixels.

A 109 KB PNG can declare 30000 x 30000 pixels (2.7 GB once decoded). Reading the width and height
from the header (PNG IHDR, JPEG SOFn, WebP VP8/VP8L/VP8X) lets the caller refuse such an image
without decoding it. Pure byte parsing, bounded work: the JPEG marker walk stops at the first frame
header, after at most MAX_JPEG_SEGMENTS segments.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_JPEG_SEGMENTS = 256
# JPEG start-of-frame markers: C0..CF except DHT (C4), JPG (C8) and DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class ImageHeaderError(ValueError):
    """Bytes whose header is not a (complete) PNG, JPEG or WebP header."""


@dataclass(frozen=True)
class ImageHeader:
    format: str  # "png" | "jpeg" | "webp"
    width: int
    height: int
    bit_depth: int = 8  # bits per channel sample
    channels: int = 3  # 1 for greyscale (PNG colour type 0, JPEG with one component)

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _png(data: bytes) -> ImageHeader:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise ImageHeaderError("PNG without an IHDR chunk")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    channels = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(colour)
    if channels is None:
        raise ImageHeaderError(f"PNG colour type {colour} is not defined")
    return ImageHeader("png", width, height, depth, channels)


def _jpeg(data: memoryview) -> ImageHeader:
    pos = 2
    for _ in range(MAX_JPEG_SEGMENTS):
        while pos < len(data) and data[pos] == 0xFF and pos + 1 < len(data) and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 4 > len(data) or data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _SOF_MARKERS:
            if pos + 10 > len(data):
                break
            depth, height, width, components = struct.unpack(">BHHB", data[pos + 4 : pos + 10])
            return ImageHeader("jpeg", width, height, depth, components)
        if marker == 0xDA or length < 2:  # scan data before any frame header: not a JPEG we can size
            break
        pos += 2 + length
    raise ImageHeaderError("JPEG without a frame header (SOFn) in its first segments")


def _webp(data: bytes) -> ImageHeader:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return ImageHeader("webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return ImageHeader("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageHeader("webp", width, height)
    raise ImageHeaderError("WebP without a VP8/VP8L/VP8X header")


def read_image_header(data: bytes | bytearray | memoryview) -> ImageHeader:
    """Format and size of compressed image bytes (not copied). Raises ImageHeaderError for anything else."""
    view = memoryview(data).cast("B") if not isinstance(data, bytes) else memoryview(data)
    head = bytes(view[:64])  # PNG and WebP headers lie in the first 30 bytes
    if head.startswith(PNG_SIGNATURE):
        return _png(head)
    if head.startswith(b"\xff\xd8"):
        return _jpeg(view)  # EXIF/ICC segments before the frame header can be long: walk the view
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(head)
    raise ImageHeaderError("not a PNG, JPEG or WebP image (unknown signature)")
