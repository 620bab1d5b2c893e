"""Pure parts of the codec benchmark: token baselines round trip and the image-ratio rule."""
from __future__ import annotations

import numpy as np

from prosem_core.bench.codec import Row, _image_ratio, _token_baselines


def test_token_baselines_round_trip_and_sizes():
    rng = np.random.default_rng(0)
    x = np.abs(rng.normal(size=(49, 1280))).astype(np.float32)
    methods = _token_baselines(x[None])
    sizes = {}
    for name, (enc, dec) in methods.items():
        blob = enc(x)
        out = dec(blob)
        assert out.shape == x.shape and out.dtype == np.float32
        sizes[name] = len(blob)
    np.testing.assert_allclose(methods["fp16"][1](methods["fp16"][0](x)), x, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(methods["int8"][1](methods["int8"][0](x)), x, atol=np.abs(x).max() / 127)
    np.testing.assert_allclose(methods["pooled-1"][1](methods["pooled-1"][0](x))[0], x.mean(0), rtol=1e-3)
    assert sizes["fp16"] == 49 * 1280 * 2 and sizes["pooled-4"] == 4 * 1280 * 2
    assert sizes["mean-4bit-zlib"] < 1280 // 2 + 64


def test_image_ratio_uses_cheapest_image_at_equal_or_better_agreement():
    codec = [Row("codec", "k=1", "d", 100.0, answer_agreement=0.90), Row("codec", "k=2", "d", 300.0, answer_agreement=0.99)]
    images = [Row("jpeg@224", "q10", "d", 1000.0, answer_agreement=0.92), Row("jpeg@224", "q90", "d", 5000.0, answer_agreement=0.95)]
    out = _image_ratio(codec, images, "answer_agreement")
    assert out["k=1"]["image_bytes"] == 1000.0 and out["k=1"]["ratio"] == 10.0
    assert out["k=2"]["ratio"] is None and out["k=2"]["ratio_lower_bound"] == 5000.0 / 300.0
