"""Binary layer format: a fixed little-endian header, the payload, and a CRC32 over both.

Layout (version 1, 40 bytes of header):

    offset size field
    0      4    magic b"PSMA"
    4      1    version (1)
    5      1    flags: bit0 keyframe, bit1 coded against a reference frame
    6      1    layer_index
    7      1    layer_count
    8      8    codebook id (8 raw bytes; the str id is their hex)
    16     4    frame_seq (uint32)
    20     4    ref_frame_seq (uint32; equals frame_seq on keyframes)
    24     2    tokens T (uint16)
    26     2    dim D (uint16)
    28     1    dtype of decoded tokens (1 = float32)
    29     2    fidelity after this layer, x 65535 (uint16)
    31     1    reserved (0)
    32     4    payload length in bytes (uint32)
    36     4    CRC32 of bytes [0, 36) + payload

A layer is header + payload, nothing else: trailing bytes are an error.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from .errors import CodecError

MAGIC = b"PSMA"
VERSION = 1
DTYPE_FLOAT32 = 1
FLAG_KEYFRAME = 0x01
FLAG_REFERENCE = 0x02
_STRUCT = struct.Struct("<4sBBBB8sIIHHBHBI")
_CRC = struct.Struct("<I")
HEADER_SIZE = _STRUCT.size + _CRC.size  # 40
MAX_LAYER_BYTES = 65_000  # one DDS sample, well under 64 KiB
MAX_TOKENS = 16_384
MAX_DIM = 16_384


@dataclass(frozen=True)
class LayerHeader:
    """Everything a receiver needs to route, order and judge a layer without decoding it."""

    version: int
    codebook_id: str
    frame_seq: int
    layer_index: int
    layer_count: int
    token_shape: tuple[int, int]
    fidelity: float  # fidelity of the prefix ending with this layer, 0..1
    keyframe: bool
    ref_frame_seq: int  # frame the layer was coded against (== frame_seq for keyframes)
    payload_size: int
    dtype: str = "float32"

    @property
    def size(self) -> int:
        return HEADER_SIZE + self.payload_size


def pack_layer(header: LayerHeader, payload: bytes) -> bytes:
    flags = (FLAG_KEYFRAME if header.keyframe else 0) | (0 if header.keyframe else FLAG_REFERENCE)
    fid = int(round(min(max(header.fidelity, 0.0), 1.0) * 65535))
    head = _STRUCT.pack(
        MAGIC, VERSION, flags, header.layer_index, header.layer_count, bytes.fromhex(header.codebook_id),
        header.frame_seq & 0xFFFFFFFF, header.ref_frame_seq & 0xFFFFFFFF, header.token_shape[0],
        header.token_shape[1], DTYPE_FLOAT32, fid, 0, len(payload))
    crc = zlib.crc32(payload, zlib.crc32(head))
    out = head + _CRC.pack(crc) + payload
    if len(out) > MAX_LAYER_BYTES:
        raise CodecError(f"layer of {len(out)} bytes exceeds the {MAX_LAYER_BYTES} byte limit")
    return out


def read_header(layer: bytes) -> LayerHeader:
    """Parse and check one layer's header (magic, version, sizes, CRC). Raises CodecError."""
    if not isinstance(layer, (bytes, bytearray, memoryview)):
        raise CodecError(f"a layer must be bytes, got {type(layer).__name__}")
    layer = bytes(layer)
    if len(layer) < HEADER_SIZE:
        raise CodecError(f"layer truncated: {len(layer)} bytes < {HEADER_SIZE} byte header")
    (magic, version, flags, index, count, cb, seq, ref_seq, tokens, dim, dtype, fid, reserved,
     plen) = _STRUCT.unpack_from(layer, 0)
    if magic != MAGIC:
        raise CodecError(f"bad magic {magic!r}: not a ProSem layer")
    if version != VERSION:
        raise CodecError(f"unsupported layer version {version} (this codec reads {VERSION})")
    if len(layer) != HEADER_SIZE + plen:
        raise CodecError(f"layer length {len(layer)} != header {HEADER_SIZE} + payload {plen}")
    (crc,) = _CRC.unpack_from(layer, _STRUCT.size)
    if zlib.crc32(layer[HEADER_SIZE:], zlib.crc32(layer[:_STRUCT.size])) != crc:
        raise CodecError("CRC mismatch: layer corrupted")
    if flags & ~(FLAG_KEYFRAME | FLAG_REFERENCE) or bool(flags & FLAG_KEYFRAME) == bool(flags & FLAG_REFERENCE):
        raise CodecError(f"invalid flags 0x{flags:02x}")
    if count < 1 or index >= count:
        raise CodecError(f"layer index {index} outside layer count {count}")
    if not (1 <= tokens <= MAX_TOKENS and 1 <= dim <= MAX_DIM):
        raise CodecError(f"absurd token shape ({tokens}, {dim})")
    if dtype != DTYPE_FLOAT32 or reserved != 0:
        raise CodecError(f"unknown dtype code {dtype} or reserved byte {reserved}")
    keyframe = bool(flags & FLAG_KEYFRAME)
    if keyframe and ref_seq != seq:
        raise CodecError("keyframe layer names a reference frame")
    return LayerHeader(version=version, codebook_id=cb.hex(), frame_seq=seq, layer_index=index,
                       layer_count=count, token_shape=(tokens, dim), fidelity=fid / 65535.0,
                       keyframe=keyframe, ref_frame_seq=ref_seq, payload_size=plen)


def payload_of(layer: bytes) -> memoryview:
    return memoryview(bytes(layer))[HEADER_SIZE:]
