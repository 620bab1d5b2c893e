"""Temporal coding: the receipt protocol of TemporalEncoder / TemporalDecoder (codec/temporal.py)."""
from __future__ import annotations

import numpy as np
import pytest
from codec_helpers import small_codec, synthetic_tokens

from prosem_core.codec import CodecError, TemporalDecoder, TemporalEncoder, read_header
from prosem_core.codec.layer_format import HEADER_SIZE


def _frames(n: int, drift: float, seed: int = 30) -> list[np.ndarray]:
    base = synthetic_tokens(1, seed=seed)[0]
    step = synthetic_tokens(1, seed=seed + 1)[0]
    return [base + drift * i * step for i in range(n)]


@pytest.mark.parametrize("reference_layers", [1, 5])
def test_still_scene_costs_next_to_nothing_and_matches_keyframes(reference_layers):
    ae = small_codec()
    frames = _frames(6, 0.0)
    tx = TemporalEncoder(ae, keyframe_interval=100, reference_layers=reference_layers)
    rx = TemporalDecoder(ae)
    sizes = []
    for seq, x in enumerate(frames):
        layers = tx.encode(x, seq)
        got = rx.decode(layers)
        tx.confirm(seq, layers=len(layers))
        sizes.append([len(b) for b in layers])
        # a delta frame is as faithful as its signalled fidelity says (relative to the frame itself)
        assert ae.model_error(x, got) <= (1.0 - ae.fidelity(layers) + 2e-3) * ae.frame_energy(x)
    key, still = sizes[0], sizes[-1]
    assert read_header(tx.encode(frames[0], 6)[0]).ref_frame_seq == 5
    # the layers the reference holds cost the header plus a few bytes on a still frame (their
    # residual is below the dead zone); later layers cost what a keyframe's do
    assert all(s <= HEADER_SIZE + 24 < k for s, k in zip(still[:reference_layers], key))
    assert sum(still[reference_layers:]) <= 1.05 * sum(key[reference_layers:])


def test_receipts_choose_the_reference_and_keyframes_follow_the_rules():
    ae = small_codec()
    frames = _frames(12, 0.01)
    tx, rx = TemporalEncoder(ae, keyframe_interval=5, cut_threshold=None), TemporalDecoder(ae)
    heads = []
    for seq, x in enumerate(frames):
        layers = tx.encode(x, seq)
        heads.append(read_header(layers[0]))
        rx.decode(layers[:2])
        if seq != 2:  # frame 2's base layer is lost: never confirmed
            tx.confirm(seq)
    assert [h.keyframe for h in heads] == [True, False, False, False, False,
                                           True, False, False, False, False, True, False]
    assert heads[3].ref_frame_seq == 1  # frame 2 unconfirmed: the newest confirmed is 1
    assert heads[4].ref_frame_seq == 3 and heads[4].ref_layers == 1
    tx.request_keyframe()
    assert read_header(tx.encode(frames[0], 12)[0]).keyframe
    assert tx.last_keyframe_reason == "requested"


def test_missing_reference_is_a_codec_error_and_a_keyframe_recovers():
    ae = small_codec()
    frames = _frames(4, 0.01)
    tx = TemporalEncoder(ae)
    first = tx.encode(frames[0], 0)
    tx.confirm(0)
    delta = tx.encode(frames[1], 1)
    fresh = TemporalDecoder(ae)  # a receiver that never got frame 0 (e.g. restarted)
    with pytest.raises(CodecError, match="keyframe"):
        fresh.decode(delta)
    tx.request_keyframe()
    key = tx.encode(frames[2], 2)
    assert read_header(key[0]).keyframe
    np.testing.assert_array_equal(fresh.decode(key), ae.decode(key))
    assert first != key


def test_both_ends_hold_identical_references_and_prefixes_grow():
    ae = small_codec()
    frames = _frames(5, 0.02)
    for ref_layers in (1, 3):
        tx, rx = TemporalEncoder(ae, reference_layers=ref_layers), TemporalDecoder(ae)
        for seq, x in enumerate(frames):
            layers = tx.encode(x, seq)
            rx.decode(layers[:1])
            full = rx.decode(layers)  # the rest of the frame arrives later
            assert rx.held_prefix(seq) == len(layers)
            np.testing.assert_array_equal(full, ae.decode(layers, reference=None if seq == 0 else
                                                          (seq - 1, rx.reference_tokens(seq - 1, ref_layers))))
            assert tx.confirm(seq, layers=len(layers))
            h = read_header(layers[0])
            if seq:
                assert h.ref_layers == ref_layers
            np.testing.assert_array_equal(tx._reference[1], rx.reference_tokens(seq, ref_layers))


def test_scene_cut_becomes_a_keyframe():
    ae = small_codec()
    a, b = synthetic_tokens(2, seed=50)
    tx = TemporalEncoder(ae, keyframe_interval=100)
    tx.encode(a, 0)
    tx.confirm(0)
    layers = tx.encode(a + 0.01 * b, 1)
    assert not read_header(layers[0]).keyframe and tx.last_change < 0.05
    layers = tx.encode(b, 2)  # another scene
    assert read_header(layers[0]).keyframe and tx.last_keyframe_reason == "scene cut"
    assert tx.last_change > tx.cut_threshold


def test_bad_arguments():
    ae = small_codec()
    with pytest.raises(ValueError):
        TemporalEncoder(ae, keyframe_interval=0)
    with pytest.raises(ValueError):
        TemporalEncoder(ae, reference_layers=ae.layer_count + 1)
    tx = TemporalEncoder(ae)
    assert not tx.confirm(99)  # unknown frame: ignored
    tx.encode(synthetic_tokens(1, seed=1)[0], 0)
    with pytest.raises(CodecError):
        tx.confirm(0, layers=ae.layer_count + 1)
    with pytest.raises(CodecError):
        TemporalDecoder(ae).decode([])
