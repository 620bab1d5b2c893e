"""Calibration tokens from a real-VLM backend (what `prosem calibrate --backend smolvlm|llava` fits on),
and the codec round trip through such a backend's generation."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from prosem_core.models.vlm import VlmInputError, VlmLoadError  # noqa: E402
from prosem_core.models.vlm.calibration import load_for_calibration  # noqa: E402
from prosem_core.models.vlm.tiny import build_tiny_model_dir  # noqa: E402


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


@pytest.mark.parametrize("backend,opts", [("smolvlm", {}), ("llava", {"llava_projector_on_edge": False})])
def test_calibration_tokens_are_the_edge_tokens(smol_dir, llava_dir, backend, opts):
    model_dir = smol_dir if backend == "smolvlm" else llava_dir
    images = _images(5, seed=11)
    tokens, vlm = load_for_calibration(backend, str(model_dir), iter(images), **opts)  # any iterable
    assert tokens.dtype == np.float32 and tokens.shape == (5, *vlm.token_shape)
    for i, img in enumerate(images):
        assert np.array_equal(tokens[i], vlm.edge_tokens(img))
    assert vlm.first_linear_map().shape[1] == vlm.token_shape[1]


def test_calibration_errors(smol_dir, tmp_path):
    with pytest.raises(VlmLoadError, match="does not exist"):
        load_for_calibration("smolvlm", str(tmp_path / "nothing"), _images(1, 0))
    with pytest.raises(VlmLoadError, match="expected llava"):
        load_for_calibration("llava", str(smol_dir), _images(1, 0))
    with pytest.raises(VlmInputError, match="backend must be"):
        load_for_calibration("clip", str(smol_dir), _images(1, 0))
    with pytest.raises(VlmInputError, match="no calibration images"):
        load_for_calibration("smolvlm", str(smol_dir), [])
    with pytest.raises(VlmInputError, match="calibration image 1"):
        load_for_calibration("smolvlm", str(smol_dir), [_images(1, 0)[0], np.zeros((4, 4), np.uint8)])
    tokens, _ = load_for_calibration("smolvlm", str(smol_dir), _images(6, 1), max_images=2)
    assert tokens.shape[0] == 2


def test_codec_prefixes_decode_into_tokens_the_vlm_answers_from(smol_dir):
    codec = pytest.importorskip("prosem_core.codec")
    if not hasattr(codec, "MetaAutoEncoder"):
        pytest.skip("prosem_core.codec has no MetaAutoEncoder yet")
    tokens, vlm = load_for_calibration("smolvlm", str(smol_dir), _images(16, seed=5))
    # Budgets scaled to these tiny 16 x 48 tokens (3 KiB raw) so that prefixes really differ in fidelity.
    ae = codec.MetaAutoEncoder.fit(tokens[:14], model=vlm, layer_budgets=(128, 256, 512, 1024),
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
