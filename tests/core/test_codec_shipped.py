"""The shipped codebook for EfficientNet-Lite0 tokens loads offline and keeps its promises."""
from __future__ import annotations

import numpy as np

from prosem_core.codec import DEFAULT_CODEBOOK, MetaAutoEncoder, default_codec, read_header


def test_shipped_codebook_is_small_and_recorded():
    ae = default_codec()
    assert ae.token_shape == (49, 1280)
    assert ae.provenance["command"].startswith("prosem calibrate")
    assert ae.layer_budgets[0] <= 256 and ae.layer_count == 5
    size = DEFAULT_CODEBOOK.with_suffix(".npz").stat().st_size
    assert size < 8 * 1024 * 1024
    assert MetaAutoEncoder.load(DEFAULT_CODEBOOK).codebook_id == ae.codebook_id


def test_shipped_codebook_round_trip_within_budgets():
    ae = default_codec()
    rng = np.random.default_rng(0)
    # feature-like tokens: non-negative (ReLU6 outputs), sparse, with a few strong channels
    x = np.clip(rng.gamma(0.6, 0.8, size=(49, 1280)) * (rng.random((1, 1280)) < 0.5), 0, 6).astype(np.float32)
    layers = ae.encode(x, frame_seq=42)
    fids = []
    for k, (layer, budget) in enumerate(zip(layers, ae.layer_budgets), start=1):
        assert len(layer) <= budget < 64 * 1024
        assert read_header(layer).layer_index == k - 1
        xh = ae.decode(layers[:k])
        assert xh.shape == (49, 1280) and np.isfinite(xh).all()
        fids.append(ae.fidelity(layers[:k]))
    assert fids == sorted(fids) and fids[-1] > fids[0]
