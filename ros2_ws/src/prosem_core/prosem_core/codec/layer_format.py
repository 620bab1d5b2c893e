"""Binary layer format: a fixed little-endian header, the payload, and a CRC32 over both.

Layout (version 2, 31 bytes of header; version 1 had 40):

    offset size field
    0      2    magic b"PS"
    2      1    version (2)
    3      1    layer_index (low 4 bits) | (layer_count - 1) (high 4 bits): at most 16 layers
    4      8    codebook id (8 raw bytes; the str id is their hex)
    12     4    frame_seq (uint32)
    16     2    ref_distance (uint16): 0 on keyframes; else ref_frame_seq = frame_seq - ref_distance
                (mod 2**32), i.e. a reference at most 65535 frames back
    18     1    ref_layers: 0 on keyframes; else the reference is the decode of that many layers
                (1..16) of frame ref_frame_seq (temporal.py: 1 = its base layer)
    19     2    tokens T (uint16)
    21     2    dim D (uint16)
    23     2    fidelity after this layer, x 65535 (uint16)
    25     2    payload length in bytes (uint16)
    27     4    CRC32 of bytes [0, 27) + payload

A layer is header + payload, nothing else: trailing bytes are an error. Decoded tokens are float32.
Version 1 layers (magic b"PSMA") are refused with a CodecError naming the version; a version 1
reader refuses version 2 layers as "bad magic" (a CodecError too), so mixed deployments fail loudly.
Why the shorter header: a base layer has a 256-byte budget, and a still scene's temporal layers are
little more than headers.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, replace

from .errors import CodecError

MAGIC = b"PS"
VERSION = 2
_V1_MAGIC = b"PSMA"
_STRUCT = struct.Struct("<2sBB8sIHBHHHH")
_CRC = struct.Struct("<I")
HEADER_SIZE = _STRUCT.size + _CRC.size  # 31
PAYLOAD_LENGTH_OFFSET = 25  # for tests that rewrite a layer's length field
MAX_LAYER_BYTES = 65_000  # one DDS sample, well under 64 KiB
MAX_LAYERS = 16
MAX_REF_DISTANCE = 0xFFFF
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
    ref_layers: int = 0  # layers of ref_frame_seq whose decode is the reference (0 on keyframes)

    @property
    def size(self) -> int:
        return HEADER_SIZE + self.payload_size


def pack_layer(header: LayerHeader, payload: bytes) -> bytes:
    if not 1 <= header.layer_count <= MAX_LAYERS or not 0 <= header.layer_index < header.layer_count:
        raise CodecError(f"layer {header.layer_index} of {header.layer_count}: at most {MAX_LAYERS} layers")
    if header.keyframe:
        distance, ref_layers = 0, 0
    else:
        distance = (header.frame_seq - header.ref_frame_seq) & 0xFFFFFFFF
        ref_layers = header.ref_layers
        if not 1 <= distance <= MAX_REF_DISTANCE:
            raise CodecError(f"reference frame {header.ref_frame_seq} must be 1..{MAX_REF_DISTANCE} frames "
                             f"before frame {header.frame_seq}")
        if not 1 <= ref_layers <= MAX_LAYERS:
            raise CodecError(f"reference layers must be 1..{MAX_LAYERS}, got {ref_layers}")
    fid = int(round(min(max(header.fidelity, 0.0), 1.0) * 65535))
    head = _STRUCT.pack(
        MAGIC, VERSION, header.layer_index | (header.layer_count - 1) << 4, bytes.fromhex(header.codebook_id),
        header.frame_seq & 0xFFFFFFFF, distance, ref_layers, header.token_shape[0], header.token_shape[1],
        fid, len(payload))
    out = head + _CRC.pack(zlib.crc32(payload, zlib.crc32(head))) + payload
    if len(out) > MAX_LAYER_BYTES:
        raise CodecError(f"layer of {len(out)} bytes exceeds the {MAX_LAYER_BYTES} byte limit")
    return out


def read_header(layer: bytes) -> LayerHeader:
    """Parse and check one layer's header (magic, version, sizes, CRC). Raises CodecError."""
    if not isinstance(layer, (bytes, bytearray, memoryview)):
        raise CodecError(f"a layer must be bytes, got {type(layer).__name__}")
    layer = bytes(layer)
    if layer[:4] == _V1_MAGIC:
        raise CodecError(f"layer format version 1 (40-byte header) is not read by this codec (version {VERSION}): "
                         "update the sender")
    if len(layer) < HEADER_SIZE:
        raise CodecError(f"layer truncated: {len(layer)} bytes < {HEADER_SIZE} byte header")
    (magic, version, packed, cb, seq, distance, ref_layers, tokens, dim, fid,
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
    index, count = packed & 0x0F, (packed >> 4) + 1
    if index >= count:
        raise CodecError(f"layer index {index} outside layer count {count}")
    if not (1 <= tokens <= MAX_TOKENS and 1 <= dim <= MAX_DIM):
        raise CodecError(f"absurd token shape ({tokens}, {dim})")
    keyframe = distance == 0
    if keyframe != (ref_layers == 0) or ref_layers > MAX_LAYERS:
        raise CodecError(f"inconsistent reference fields (distance {distance}, layers {ref_layers})")
    return LayerHeader(version=version, codebook_id=cb.hex(), frame_seq=seq, layer_index=index,
                       layer_count=count, token_shape=(tokens, dim), fidelity=fid / 65535.0,
                       keyframe=keyframe, ref_frame_seq=(seq - distance) & 0xFFFFFFFF, payload_size=plen,
                       ref_layers=ref_layers)


def payload_of(layer: bytes) -> memoryview:
    return memoryview(bytes(layer))[HEADER_SIZE:]


def with_frame_seq(layer: bytes, frame_seq: int) -> bytes:
    """The same layer renumbered as frame `frame_seq` (header and CRC rewritten; a delta layer keeps
    its reference distance). For replaying pre-encoded streams: payloads do not depend on the number."""
    h = read_header(layer)
    distance = (h.frame_seq - h.ref_frame_seq) & 0xFFFFFFFF
    seq = int(frame_seq) & 0xFFFFFFFF
    return pack_layer(replace(h, frame_seq=seq, ref_frame_seq=(seq - distance) & 0xFFFFFFFF), bytes(payload_of(layer)))
