"""Vision encoder: torch and ONNX give the same tokens; int8's error is measured and bounded;
the ONNX encoder runs without torch; missing model files and bad images give clear errors."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from models_helpers import ensure_onnx

from prosem_core.models.encoder import TOKEN_SHAPE, build_encoder
from prosem_core.models.paths import ModelFileMissing
from prosem_core.models.sample_images import bundled_photos

# fp32 ONNX vs torch: same graph, different kernels. Measured max |diff| ~3e-5 on tokens in [0, 6].
ONNX_MAX_ABS = 1e-3
ONNX_MAX_REL = 1e-4
# int8 QDQ by the static recipe (models/export.py ENCODER_INT8): measured relative error 0.070 on these
# three photos (ONNX Runtime's MinMax QDQ alone: ~0.19).
INT8_MAX_REL = 0.12


@pytest.fixture(scope="module")
def photos():
    ims = dict(bundled_photos())
    return [ims["chelsea"], ims["astronaut"], ims["coffee"]]


@pytest.fixture(scope="module")
def tokens(photos):
    ensure_onnx()
    return {rt: build_encoder(rt).encode_batch(photos) for rt in ("torch", "onnx", "onnx-int8")}


def test_token_shape_and_range(tokens):
    t = tokens["torch"]
    assert t.shape == (3, *TOKEN_SHAPE) and t.dtype == np.float32
    assert t.min() >= 0.0 and t.max() <= 6.0  # ReLU6 output
    assert t.std() > 0.05  # not a constant map


def test_onnx_matches_torch(tokens):
    diff = np.abs(tokens["onnx"] - tokens["torch"])
    rel = np.linalg.norm(tokens["onnx"] - tokens["torch"]) / np.linalg.norm(tokens["torch"])
    assert diff.max() < ONNX_MAX_ABS, diff.max()
    assert rel < ONNX_MAX_REL, rel


def test_int8_error_is_bounded_and_keeps_the_cat(tokens):
    rel = np.linalg.norm(tokens["onnx-int8"] - tokens["torch"]) / np.linalg.norm(tokens["torch"])
    assert 0.0 < rel < INT8_MAX_REL, rel  # > 0: really quantized
    from prosem_core.models.imagenet_head import ImageNetHead

    head = ImageNetHead()
    assert int(np.argmax(head.probs(tokens["onnx-int8"][0]))) in range(281, 286)  # a domestic cat


def test_int8_file_says_which_recipe_made_it():
    """The int8 encoder is the static recipe's (stem and blocks 0-1 in float), and says so beside itself."""
    import json

    from prosem_core.models.export import ENCODER_INT8, int8_is_current, int8_report_path
    from prosem_core.models.paths import onnx_path

    ensure_onnx()
    assert int8_is_current(onnx_path("int8"))
    report = json.loads(int8_report_path(onnx_path("int8")).read_text())
    assert report["recipe"] == ENCODER_INT8.as_dict() and len(report["kept_float"]) == 6
    assert report["kept_float"][0] == "/_conv_stem/Conv" and len(report["quantized"]) == 43
    assert len(report["rounding"]) == 43 and len(report["bias_corrected"]) == 43


def test_single_image_equals_batch(photos, tokens):
    enc = build_encoder("onnx")
    np.testing.assert_allclose(enc.encode(photos[1]), tokens["onnx"][1], atol=1e-5)


def test_grey_and_rgba_images_are_accepted(photos):
    enc = build_encoder("onnx")
    grey = photos[0].mean(axis=2).astype(np.uint8)
    rgba = np.concatenate([photos[0], np.full(photos[0].shape[:2] + (1,), 255, np.uint8)], axis=2)
    assert enc.encode(grey).shape == TOKEN_SHAPE
    np.testing.assert_array_equal(enc.encode(rgba), enc.encode(photos[0]))


@pytest.mark.parametrize("bad, err", [
    (np.zeros((64, 64, 3), np.float32), ValueError),
    (np.zeros((64, 64, 5), np.uint8), ValueError),
    (np.zeros((4, 4, 3), np.uint8), ValueError),
    ([[1, 2, 3]], TypeError),
])
def test_bad_images_raise_clear_errors(bad, err):
    ensure_onnx()
    with pytest.raises(err):
        build_encoder("onnx").encode(bad)


def test_unknown_runtime():
    with pytest.raises(ValueError, match="unknown encoder runtime"):
        build_encoder("tflite")


def test_missing_onnx_file_tells_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PROSEM_MODEL_DIR", str(tmp_path / "empty"))
    with pytest.raises(ModelFileMissing, match=r"make setup.*prosem export-onnx"):
        build_encoder("onnx")
    with pytest.raises(ModelFileMissing, match="int8"):
        build_encoder("onnx-int8")


def test_onnx_encoder_runs_without_torch():
    ensure_onnx()
    # A None entry in sys.modules makes `import torch` raise ImportError: the edge without torch.
    code = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None
        from prosem_core.models.encoder import build_encoder
        from prosem_core.models.sample_images import cat_photo
        t = build_encoder("onnx-int8").encode(cat_photo())
        assert t.shape == (49, 1280)
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr


def test_token_cache_is_keyed_by_the_onnx_file(tmp_path, monkeypatch):
    """Re-exporting the encoder (a new int8 recipe) must not serve the old file's cached tokens."""
    import os

    from prosem_core.models import datasets
    from prosem_core.models.paths import onnx_path

    monkeypatch.setenv("PROSEM_MODEL_DIR", str(tmp_path))
    onnx_path("int8").write_bytes(b"old")
    before = datasets._cache_paths("test", "onnx-int8")
    os.utime(onnx_path("int8"), ns=(1, 1))
    after = datasets._cache_paths("test", "onnx-int8")
    assert before != after and datasets._cache_paths("test", "torch")[0].name == "easy_vqa_test_torch_ids.npy"
