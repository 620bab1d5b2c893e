"""Round trip at every prefix, monotone fidelity, save/load identity, header parsing, model= forms."""
from __future__ import annotations

import numpy as np
import pytest
from codec_helpers import D, T, small_codec, synthetic_tokens

from prosem_core.codec import CodecError, MetaAutoEncoder, read_header
from prosem_core.codec.layer_format import HEADER_SIZE


def _model_error(ae: MetaAutoEncoder, x: np.ndarray, xh: np.ndarray) -> float:
    """Model-weighted squared error (what the codec's fidelity is defined on)."""
    return ae.model_error(x, xh)


@pytest.mark.parametrize("kind", ["matrix", "none"])
def test_every_prefix_decodes_and_error_falls(kind):
    ae = small_codec(kind)
    for x in synthetic_tokens(20, seed=3):
        layers = ae.encode(x, frame_seq=5)
        assert len(layers) == ae.layer_count == 5
        errors, fids = [], []
        for k in range(1, len(layers) + 1):
            xh = ae.decode(layers[:k])
            assert xh.shape == (T, D) and xh.dtype == np.float32
            errors.append(_model_error(ae, x, xh))
            fids.append(ae.fidelity(layers[:k]))
        # more layers never hurt: exactly monotone in the model metric and in the signalled fidelity
        assert all(b <= a * (1 + 1e-4) + 1e-6 for a, b in zip(errors, errors[1:])), errors
        assert all(b >= a for a, b in zip(fids, fids[1:])), fids
        assert 0.0 <= fids[0] <= fids[-1] <= 1.0
        assert fids[-1] > 0.9
        if kind == "none":  # without a model every direction counts: plain token cosine is high
            cos = float((xh * x).sum() / np.linalg.norm(xh) / np.linalg.norm(x))
            assert cos > 0.97


def test_signalled_fidelity_matches_measured_error():
    ae = small_codec()
    x = synthetic_tokens(1, seed=11)[0]
    layers = ae.encode(x)
    energy = ae.frame_energy(x)
    for k in range(1, len(layers) + 1):
        measured = 1.0 - _model_error(ae, x, ae.decode(layers[:k])) / energy
        assert ae.fidelity(layers[:k]) == pytest.approx(max(measured, 0.0), abs=3e-3)


def test_layers_respect_budgets_and_carry_headers():
    ae = small_codec()
    budgets = ae.config.layer_budgets
    # tokens far outside the calibration range still fit: the step coarsens per frame
    for x in [*synthetic_tokens(5, seed=4), 50.0 * synthetic_tokens(1, seed=5)[0]]:
        layers = ae.encode(x, frame_seq=123456)
        for i, (layer, budget) in enumerate(zip(layers, budgets)):
            assert len(layer) <= budget
            h = read_header(layer)
            assert (h.codebook_id, h.frame_seq, h.layer_index, h.layer_count) == (ae.codebook_id, 123456, i, 5)
            assert h.token_shape == (T, D) and h.keyframe and h.ref_frame_seq == 123456
            assert h.payload_size == len(layer) - HEADER_SIZE and h.version == 2
            assert h.fidelity == pytest.approx(ae.fidelity(layers[:i + 1]))


def test_save_load_identity(tmp_path):
    ae = small_codec()
    ae.provenance = {"command": "test"}
    ae.save(tmp_path / "cb")
    back = MetaAutoEncoder.load(tmp_path / "cb.json")
    assert back.codebook_id == ae.codebook_id
    assert back.provenance == {"command": "test"}
    x = synthetic_tokens(3, seed=9)
    for frame in x:
        a, b = ae.encode(frame, frame_seq=2), back.encode(frame, frame_seq=2)
        assert a == b
        np.testing.assert_array_equal(ae.decode(a), back.decode(a))
    # saving again gives the same files
    back.save(tmp_path / "cb2")
    assert (tmp_path / "cb.npz").read_bytes() == (tmp_path / "cb2.npz").read_bytes()


def test_corrupt_or_missing_codebook_raises(tmp_path):
    with pytest.raises(CodecError, match="missing"):
        MetaAutoEncoder.load(tmp_path / "nothing")
    ae = small_codec()
    ae.save(tmp_path / "cb")
    text = (tmp_path / "cb.json").read_text().replace('"deadzone": 0.15', '"deadzone": 0.2')
    assert '"deadzone": 0.2' in text
    (tmp_path / "cb.json").write_text(text)
    with pytest.raises(CodecError, match="does not match"):
        MetaAutoEncoder.load(tmp_path / "cb")


def test_foreign_codebook_rejected():
    a, b = small_codec("matrix"), small_codec("none")
    assert a.codebook_id != b.codebook_id
    layers = a.encode(synthetic_tokens(1, seed=2)[0])
    with pytest.raises(CodecError, match="codebook"):
        b.decode(layers)


def test_model_forms_and_bad_inputs():
    x = synthetic_tokens(40, seed=1)
    w = np.random.default_rng(0).normal(size=(8, D)).astype(np.float32)

    class Model:
        def first_linear_map(self):
            return w

    kw = dict(detail_components=8, metric_rank=8, step_calibration_frames=8, layer_budgets=(96, 96, 300, 600, 1200))
    assert MetaAutoEncoder.fit(x, model=w, **kw).codebook_id == MetaAutoEncoder.fit(x, model=Model(), **kw).codebook_id
    with pytest.raises(ValueError):
        MetaAutoEncoder.fit(x, model=np.ones((3, D + 1)), **kw)
    with pytest.raises(ValueError):
        MetaAutoEncoder.fit(x[:, :, :10][None], **kw)
    with pytest.raises(ValueError):
        MetaAutoEncoder.fit(x, no_such_option=1)
    ae = small_codec()
    with pytest.raises(CodecError):
        ae.encode(np.zeros((T + 1, D), np.float32))
    with pytest.raises(CodecError):
        ae.encode(np.full((T, D), np.nan, np.float32))
    with pytest.raises(CodecError):
        ae.decode([])


def test_temporal_mode_round_trip():
    ae = small_codec()
    frames = synthetic_tokens(2, seed=21)
    base = frames[0]
    moved = base + 0.05 * (frames[1] - base)  # a similar next frame
    key = ae.encode(base, frame_seq=10)
    ref_tokens = ae.decode(key)  # what the receiver holds for frame 10
    delta = ae.encode(moved, frame_seq=11, reference=(10, ref_tokens))
    h = read_header(delta[0])
    assert not h.keyframe and h.ref_frame_seq == 10 and h.frame_seq == 11
    full_key = ae.encode(moved, frame_seq=11)
    # a change against a good reference costs fewer bytes than a keyframe for the base layer,
    # and decodes at least as well
    assert len(delta[0]) < len(full_key[0])
    for k in range(1, ae.layer_count + 1):
        xh = ae.decode(delta[:k], reference=(10, ref_tokens))
        assert _model_error(ae, moved, xh) <= _model_error(ae, moved, ae.decode(full_key[:k])) * 1.05 + 1e-6
    fids = [ae.fidelity(delta[:k]) for k in range(1, ae.layer_count + 1)]
    assert fids == sorted(fids)
    with pytest.raises(CodecError, match="reference"):
        ae.decode(delta)
    with pytest.raises(CodecError, match="reference"):
        ae.decode(delta, reference=(9, ref_tokens))


@pytest.mark.parametrize("tokens,dim", [(64, 48), (10, 32)])
def test_other_token_grids(tokens, dim):
    """Real-VLM token counts (8x8 grid) and non-square counts (a 1 x T grid) work."""
    rng = np.random.default_rng(tokens)
    x = np.abs(rng.normal(size=(40, tokens, dim))).astype(np.float32)
    ae = MetaAutoEncoder.fit(x, detail_components=16, step_calibration_frames=8, layer_budgets=(96, 96, 300, 600, 1200))
    layers = ae.encode(x[0], frame_seq=1)
    errs = [ae.model_error(x[0], ae.decode(layers[:k])) for k in range(1, ae.layer_count + 1)]
    assert all(b <= a * (1 + 1e-4) + 1e-6 for a, b in zip(errs, errs[1:]))


def test_too_few_tokens_is_a_clear_error():
    with pytest.raises(ValueError, match="too few"):
        MetaAutoEncoder.fit(np.ones((10, 1, 8), np.float32))


def test_layers_of_non_adjacent_levels():
    """A layer may code levels that are not adjacent in the coefficient scan (0 and 2 here)."""
    x = synthetic_tokens(60, seed=12)
    ae = MetaAutoEncoder.fit(x, layer_levels=((0, 2), (1,), (0, 1, 2)), layer_budgets=(300, 200, 900),
                             detail_components=32, step_calibration_frames=16)
    for frame in synthetic_tokens(3, seed=13):
        layers = ae.encode(frame, frame_seq=1)
        errs = [ae.model_error(frame, ae.decode(layers[:k])) for k in range(1, 4)]
        assert all(b <= a * (1 + 1e-4) + 1e-6 for a, b in zip(errs, errs[1:]))
        energy = ae.frame_energy(frame)
        for k in range(1, 4):
            measured = 1.0 - ae.model_error(frame, ae.decode(layers[:k])) / energy
            assert ae.fidelity(layers[:k]) == pytest.approx(max(measured, 0.0), abs=3e-3)


def test_renumbered_layers_decode_the_same_and_keep_their_reference():
    from prosem_core.codec.layer_format import with_frame_seq
    from prosem_core.codec.temporal import TemporalEncoder

    ae = small_codec()
    tokens = synthetic_tokens(2, seed=5)
    layers = ae.encode(tokens[0], frame_seq=3)
    moved = [with_frame_seq(x, 1_000) for x in layers]
    assert [read_header(x).frame_seq for x in moved] == [1_000] * len(layers)
    np.testing.assert_array_equal(ae.decode(moved), ae.decode(layers))
    tx = TemporalEncoder(ae, cut_threshold=None)
    tx.encode(tokens[0], 10)
    tx.confirm(10)
    delta = tx.encode(tokens[0] * 0.9 + tokens[1] * 0.1, 12)
    h = read_header(with_frame_seq(delta[0], 40))
    assert not h.keyframe and (h.frame_seq, h.ref_frame_seq, h.ref_layers) == (40, 38, read_header(delta[0]).ref_layers)
    with pytest.raises(CodecError):
        with_frame_seq(layers[0][:-1], 5)  # a broken layer stays broken
