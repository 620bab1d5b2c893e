"""Fuzz: 10,000+ seeded mutations of valid layer stacks; only CodecError may escape."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from codec_helpers import small_codec, synthetic_tokens

from prosem_core.codec import CodecError, read_header
from prosem_core.codec.layer_format import HEADER_SIZE, PAYLOAD_LENGTH_OFFSET

N_CASES = 10_000


def _fix_crc(layer: bytes) -> bytes:
    """Recompute the CRC so mutations reach the payload parser instead of the CRC check."""
    if len(layer) < HEADER_SIZE:
        return layer
    body = layer[:HEADER_SIZE - 4]
    return body + struct.pack("<I", zlib.crc32(layer[HEADER_SIZE:], zlib.crc32(body))) + layer[HEADER_SIZE:]


def _set_payload_len(layer: bytes) -> bytes:
    n = min(max(len(layer) - HEADER_SIZE, 0), 0xFFFF)
    return layer[:PAYLOAD_LENGTH_OFFSET] + struct.pack("<H", n) + layer[PAYLOAD_LENGTH_OFFSET + 2:]


def _mutate(rng: np.random.Generator, stacks: list[list[bytes]], foreign: list[bytes]) -> list[bytes]:
    layers = list(stacks[rng.integers(len(stacks))])
    k = int(rng.integers(1, len(layers) + 1))
    layers = layers[:k]
    i = int(rng.integers(len(layers)))
    b = bytearray(layers[i])
    kind = int(rng.integers(12))
    if kind == 0:  # flip bits anywhere (CRC must catch it)
        for _ in range(int(rng.integers(1, 4))):
            pos = int(rng.integers(len(b)))
            b[pos] ^= 1 << int(rng.integers(8))
        layers[i] = bytes(b)
    elif kind == 1:  # truncate
        layers[i] = bytes(b[:int(rng.integers(len(b)))])
    elif kind == 2:  # payload garbage with a valid CRC and length
        pos = int(rng.integers(HEADER_SIZE, len(b))) if len(b) > HEADER_SIZE else HEADER_SIZE
        n = int(rng.integers(1, 16))
        b[pos:pos + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        layers[i] = _fix_crc(_set_payload_len(bytes(b)))
    elif kind == 3:  # payload truncated or extended, header made consistent
        cut = int(rng.integers(HEADER_SIZE, len(b) + 1))
        extra = rng.integers(0, 256, int(rng.integers(0, 8)), dtype=np.uint8).tobytes()
        layers[i] = _fix_crc(_set_payload_len(bytes(b[:cut]) + extra))
    elif kind == 4:  # header field rewritten, CRC fixed
        pos = int(rng.integers(2, HEADER_SIZE - 4))
        b[pos] = int(rng.integers(256))
        layers[i] = _fix_crc(bytes(b))
    elif kind == 5:  # duplicate a layer
        layers.insert(i, layers[i])
    elif kind == 6:  # reorder
        rng.shuffle(layers)
    elif kind == 7:  # drop a middle layer
        if len(layers) > 1:
            del layers[i]
        else:
            layers = []
    elif kind == 8:  # layer of a foreign codebook / other frame spliced in
        layers[i] = foreign[min(i, len(foreign) - 1)] if rng.random() < 0.5 else stacks[(i + 1) % len(stacks)][i]
    elif kind == 9:  # random bytes
        layers[i] = rng.integers(0, 256, int(rng.integers(0, 80)), dtype=np.uint8).tobytes()
    elif kind == 10:  # wrong types
        layers = [None] if rng.random() < 0.5 else layers[0]  # a bare bytes object is not a list
    else:  # payload bytes shuffled, CRC fixed
        payload = bytearray(b[HEADER_SIZE:])
        rng.shuffle(payload)
        layers[i] = _fix_crc(bytes(b[:HEADER_SIZE]) + bytes(payload))
    return layers


def test_fuzz_only_codec_error_escapes():
    ae = small_codec("matrix")
    other = small_codec("none")
    frames = synthetic_tokens(6, seed=99)
    stacks = [ae.encode(f, frame_seq=i) for i, f in enumerate(frames)]
    ref = ae.decode(stacks[0])
    stacks.append(ae.encode(frames[1], frame_seq=7, reference=(0, ref)))
    foreign = other.encode(frames[0], frame_seq=0)
    rng = np.random.default_rng(20261126)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(N_CASES):
        layers = _mutate(rng, stacks, foreign)
        try:
            out = ae.decode(layers, reference=(0, ref))
            assert out.shape == ae.token_shape and np.isfinite(out).all()
            ae.fidelity(layers)
            outcomes["ok"] += 1
        except CodecError:
            outcomes["error"] += 1
        if isinstance(layers, list) and layers:
            try:
                read_header(layers[0])
            except CodecError:
                pass
    # most mutations are caught; some (e.g. a dropped last layer, a duplicate-free reorder of one layer)
    # are still valid prefixes
    assert outcomes["error"] > N_CASES // 2 and outcomes["ok"] > 0, outcomes


@pytest.mark.parametrize("blob", [b"", b"PSMA", b"PS", b"XXXX" + bytes(60), bytearray(100), memoryview(b"PSMA" * 20),
                                  b"PS\x01" + bytes(60)])
def test_read_header_rejects_junk(blob):
    with pytest.raises(CodecError):
        read_header(blob)
