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


def test_temporal_simulation_under_loss_and_frontier_matching():
    from codec_helpers import small_codec, synthetic_tokens

    from prosem_core.bench.codec_temporal import TemporalBenchConfig, _matched, simulate

    ae = small_codec()
    base, move = synthetic_tokens(2, seed=40)
    frames = np.stack([base + 0.01 * i * move for i in range(30)])
    cfg = TemporalBenchConfig(frames=30, keyframe_interval=10)
    out = {}
    for mode in ("keyframes", "temporal-base"):
        got: dict = {}
        r = simulate(ae, frames, mode, 0.3, cfg, ae.layer_count, lambda k, i, t, got=got: got.setdefault(k, []).append(t))
        out[mode] = (r, got)
        assert r["errors"] == 0  # receipts only confirm what arrived: the reference is always held
    key, tmp = out["keyframes"][0], out["temporal-base"][0]
    assert key["keyframes"] == 30 and 3 <= tmp["keyframes"] < 30
    assert tmp["layer_bytes"][:, 0].mean() < 0.7 * key["layer_bytes"][:, 0].mean()
    # the same drops in both modes: the same frames decode at every prefix
    for k in range(1, ae.layer_count + 1):
        assert [t is None for t in out["keyframes"][1][k]] == [t is None for t in out["temporal-base"][1][k]]
    rows = [{"loss": 0.0, "k": 1, "mode": "keyframes", "bytes_per_frame": 200.0, "top1_agreement": 0.90, "answer_head_agreement": 0.5},
            {"loss": 0.0, "k": 2, "mode": "keyframes", "bytes_per_frame": 400.0, "top1_agreement": 0.95, "answer_head_agreement": 0.6},
            {"loss": 0.0, "k": 1, "mode": "temporal-base", "bytes_per_frame": 100.0, "top1_agreement": 0.945, "answer_head_agreement": 0.5},
            {"loss": 0.0, "k": 2, "mode": "temporal-base", "bytes_per_frame": 300.0, "top1_agreement": 0.96, "answer_head_agreement": 0.6}]
    m = _matched([dict(r, delay=0) for r in rows])["loss=0.0:delay=0:temporal-base"]
    # keyframes reach 0.95 at 400 B; temporal reaches 0.94 (within 0.01) at 100 B
    assert m["frontier"]["k=2"]["ratio"] == 0.25 and m["worst"] == 0.5 and m["at_base_layer"] == 0.5
    assert m["same_prefix"]["k=2"]["ratio"] == 0.75


def test_int8_edge_section_measures_the_int8_encoder_against_fp32():
    """On a few photos: the int8 ONNX encoder's error, agreement and speed, and the gap in words."""
    import numpy as np

    from prosem_core.bench.codec_int8 import int8_edge
    from prosem_core.codec.calibration_images import held_out_photos
    from prosem_core.models.encoder import build_encoder
    from prosem_core.models.imagenet_head import load_fc

    photos = held_out_photos(1, seed=5)[:6]
    fp32 = build_encoder("onnx")
    tokens = fp32.encode_batch(photos).astype(np.float32)
    weight, bias = load_fc()
    out = int8_edge(photos, tokens, lambda t: (t.mean(axis=1) @ weight.T + bias).argmax(axis=1), fp32, timing_frames=3)
    assert out["photos"] == 6 and 0 < out["token_rel_error_mean"] < 1 and 0 <= out["top1_agreement_with_fp32"] <= 1
    assert out["fp32_cpu_ms_per_frame"] > 0 and out["int8_cpu_ms_per_frame"] > 0
    assert out["target_met"] == (out["gap"] == "none")
    # The same tokens as "int8" would be a perfect copy: the section must tell them apart from fp32's.
    assert out["token_rel_error_mean"] > 1e-4
