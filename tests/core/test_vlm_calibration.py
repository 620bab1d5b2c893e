"""Calibration tokens of a real-VLM edge half (what `prosem calibrate --model smolvlm|llava` fits on), and
the codec round trip through such a model's generation."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from prosem_core.models.calibration_tokens import collect_tokens  # noqa: E402
from prosem_core.models.token_cache import TokenCache  # noqa: E402
from prosem_core.models.vlm.tiny import build_tiny_model_dir  # noqa: E402
from prosem_core.pipeline import Pipeline, PipelineConfig  # noqa: E402


@pytest.fixture(scope="module")
def smol_dir(tmp_path_factory):
    return build_tiny_model_dir("smolvlm", tmp_path_factory.mktemp("vlm") / "smolvlm", seed=3)


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory):
    return build_tiny_model_dir("llava", tmp_path_factory.mktemp("vlm") / "llava", seed=4)


def _images(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(int(rng.integers(20, 90)), int(rng.integers(20, 90)), 3), dtype=np.uint8)
            for _ in range(n)]


@pytest.mark.parametrize("family,opts", [("smolvlm", {}), ("llava", {"llava_projector_on_edge": False})])
def test_calibration_tokens_are_the_edge_tokens_and_the_cache_returns_them(smol_dir, llava_dir, family, opts, tmp_path):
    model_dir = smol_dir if family == "smolvlm" else llava_dir
    encoder = Pipeline(PipelineConfig(model=family, model_dir=str(model_dir), **opts)).encoder
    images = _images(5, seed=11)
    cache = TokenCache(tmp_path / "cache", {"fingerprint": "x"}, flush_every=2)
    got = collect_tokens(encoder, images, cache, progress=False)
    assert got.tokens.dtype == np.float32 and got.tokens.shape == (5, *encoder.token_shape)
    assert (got.computed, got.from_cache, got.not_encoded) == (5, 0, 0)
    for i, img in enumerate(images):
        assert np.array_equal(got.tokens[i], encoder.encode(img))
    again = collect_tokens(encoder, images, TokenCache(tmp_path / "cache", {"fingerprint": "x"}), progress=False)
    assert (again.computed, again.from_cache) == (0, 5) and np.array_equal(again.tokens, got.tokens)


def test_a_bad_calibration_image_is_named(smol_dir):
    encoder = Pipeline(PipelineConfig(model="smolvlm", model_dir=str(smol_dir))).encoder
    with pytest.raises(ValueError, match="calibration image 1"):
        collect_tokens(encoder, [_images(1, 0)[0], np.zeros((4, 4), np.uint8)], progress=False)


def test_codec_prefixes_decode_into_tokens_the_vlm_answers_from(smol_dir):
    from prosem_core.codec import MetaAutoEncoder

    p = Pipeline(PipelineConfig(model="smolvlm", model_dir=str(smol_dir)))
    tokens = collect_tokens(p.encoder, _images(16, seed=5), progress=False).tokens
    vlm = p.answerer
    # Budgets scaled to these tiny 16 x 48 tokens (3 KiB raw) so that prefixes really differ in fidelity.
    ae = MetaAutoEncoder.fit(tokens[:14], model=vlm, layer_budgets=(128, 128, 256, 512, 1024),
                             detail_components=32, metric_rank=48, step_calibration_frames=14)
    question = "what is in the image ?"
    for held_out in tokens[14:]:
        layers = ae.encode(held_out, frame_seq=0)
        exact = vlm.logits(held_out, question)[0, -1]
        logit_err, token_err = [], []
        for k in range(1, len(layers) + 1):
            rec = ae.decode(layers[:k])
            assert rec.shape == vlm.token_shape and rec.dtype == np.float32
            ans = vlm.answer(rec, question, max_new_tokens=3)
            assert ans.text and 0.0 < ans.confidence <= 1.0
            logit_err.append(float((vlm.logits(rec, question)[0, -1] - exact).abs().max()))
            token_err.append(float(np.linalg.norm(rec - held_out) / np.linalg.norm(held_out)))
        # More layers: tokens and what the language model makes of them move toward the exact ones.
        assert token_err[-1] < 0.6 * token_err[0]
        assert logit_err[-1] < 0.6 * logit_err[0]
