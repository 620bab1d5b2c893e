"""Token layouts beyond one 7x7 grid: 8x8, 14x14, 24x24 and several views (SmolVLM-style 13 x 64)."""
from __future__ import annotations

import numpy as np
import pytest

from prosem_core.codec import CodecError, MetaAutoEncoder, read_header
from prosem_core.codec.transforms import pyramid_basis


def _tokens(n: int, t: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(6, d)) / 2.0
    x = rng.normal(size=(n, t, 6)) @ mix + 0.3 * rng.normal(size=(n, t, d))
    return np.maximum(x, 0.0).astype(np.float32)


@pytest.mark.parametrize("t,views", [(64, 1), (196, 1), (576, 1), (832, 13)])
def test_layout_fits_encodes_every_prefix_and_fidelity_rises(t, views):
    d = 24
    x = _tokens(24, t, d, seed=t)
    ae = MetaAutoEncoder.fit(x, views=views, detail_components=16, step_calibration_frames=8,
                             layer_budgets=(96, 96, 300, 900, 4000))
    assert ae.config.views == views and ae.token_shape == (t, d)
    for frame in _tokens(2, t, d, seed=t + 1):
        layers = ae.encode(frame, frame_seq=3)
        assert all(read_header(b).token_shape == (t, d) for b in layers)
        errs, fids = [], []
        for k in range(1, ae.layer_count + 1):
            out = ae.decode(layers[:k])
            assert out.shape == (t, d) and np.isfinite(out).all()
            errs.append(ae.model_error(frame, out))
            fids.append(ae.fidelity(layers[:k]))
        assert all(b <= a * (1 + 1e-4) + 1e-6 for a, b in zip(errs, errs[1:])), errs
        assert fids == sorted(fids) and fids[-1] > fids[0]


def test_views_level_holds_the_view_means():
    """With 13 views the level after the mean spans exactly the per-view means (minus the global one)."""
    basis, slices = pyramid_basis(832, (2,), views=13)
    np.testing.assert_allclose(basis @ basis.T, np.eye(832), atol=1e-8)
    assert [sl.stop - sl.start for sl in slices[:3]] == [1, 12, 13 * 3]
    # a token vector that is constant within each view has no energy beyond the first two levels
    x = np.repeat(np.arange(13, dtype=np.float64), 64)
    z = basis @ x
    assert np.abs(z[slices[1].stop:]).max() < 1e-9 and np.abs(z[slices[1]]).max() > 1.0
    # cells never span two views: a change inside view 5 touches no other view's cell rows
    y = np.zeros(832)
    y[5 * 64:6 * 64] = np.random.default_rng(0).normal(size=64)
    cell_rows = basis[slices[2]]
    touched = np.flatnonzero(np.abs(cell_rows @ y) > 1e-9)
    support = {int(v) for r in touched for v in np.flatnonzero(np.abs(cell_rows[r]) > 1e-12) // 64}
    assert support == {5}


def test_layout_is_stored_and_bad_layouts_are_refused(tmp_path):
    x = _tokens(16, 24, 8, seed=1)
    ae = MetaAutoEncoder.fit(x, views=3, grid=(2, 4), detail_components=8, step_calibration_frames=4,
                             layer_budgets=(64, 64, 128, 256, 512))
    ae.save(tmp_path / "cb")
    back = MetaAutoEncoder.load(tmp_path / "cb")
    assert (back.config.views, back.config.grid) == (3, (2, 4))
    np.testing.assert_array_equal(back.decode(ae.encode(x[0])), ae.decode(ae.encode(x[0])))
    with pytest.raises(ValueError, match="views"):
        MetaAutoEncoder.fit(x, views=5)
    with pytest.raises(ValueError, match="grid"):
        MetaAutoEncoder.fit(x, views=3, grid=(3, 3))
    with pytest.raises(CodecError):
        ae.encode(np.zeros((25, 8), np.float32))
