"""The fixed pipeline API: lazy components, the documented call sequence end to end on the cat
photo (encoder -> codec layers -> decode prefix -> answer), the edge half without torch, `prosem ask`."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from models_helpers import easy_vqa_sample, ensure_onnx

from prosem_core.models.sample_images import bundled_photos, cat_photo
from prosem_core.pipeline import default_pipeline

CAT_LABELS = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}


@pytest.fixture(scope="module")
def codebook(tmp_path_factory):
    """A small codebook fitted here (the shipped one may not exist yet), saved like the real one."""
    from prosem_core.codec import MetaAutoEncoder
    from prosem_core.models.answerer import DefaultAnswerer
    from prosem_core.models.encoder import build_encoder

    ensure_onnx()
    images, *_ = easy_vqa_sample(24, seed=3)
    images += [im for name, im in bundled_photos() if name != "chelsea"]  # the test photo stays unseen
    calib = build_encoder("onnx").encode_batch(images)
    ae = MetaAutoEncoder.fit(calib, model=DefaultAnswerer(), detail_components=64, metric_rank=64,
                             step_calibration_frames=8)
    ae.provenance = {"model": default_pipeline(runtime="onnx").model_provenance()}  # as `prosem calibrate` binds it
    path = tmp_path_factory.mktemp("codebook") / "test_codebook"
    ae.save(path)
    return path


def test_components_are_built_lazily():
    p = default_pipeline()
    assert p.loaded() == {"encoder": False, "codec": False, "answerer": False}
    ensure_onnx()
    p = default_pipeline(runtime="onnx")
    _ = p.encoder
    assert p.loaded() == {"encoder": True, "codec": False, "answerer": False}


def test_unknown_runtime_is_rejected():
    with pytest.raises(ValueError, match="runtime"):
        default_pipeline(runtime="gpu")


def test_documented_api_on_the_cat(codebook):
    p = default_pipeline(runtime="onnx", codebook=codebook)
    tokens = p.encoder.encode(cat_photo())
    assert tokens.shape == (49, 1280) and tokens.dtype == np.float32
    layers = p.codec.encode(tokens)
    assert len(layers) >= 2 and all(isinstance(x, bytes) for x in layers)
    answers = []
    for k in range(1, len(layers) + 1):
        ans = p.answerer.answer(p.codec.decode(layers[:k]), "what is in the image?")
        assert isinstance(ans.text, str) and 0.0 <= ans.confidence <= 1.0
        answers.append(ans)
    assert answers[-1].label in CAT_LABELS, answers[-1].text  # all layers: a cat
    full = p.answerer.answer(tokens, "what is in the image?")
    assert full.label in CAT_LABELS


def test_edge_half_runs_without_torch(codebook):
    ensure_onnx()
    code = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # importing torch now raises
        from prosem_core.pipeline import default_pipeline
        from prosem_core.models.sample_images import cat_photo
        p = default_pipeline(runtime="onnx", codebook={str(codebook)!r})
        layers = p.codec.encode(p.encoder.encode(cat_photo()))
        assert len(layers) >= 1 and p.loaded()["answerer"] is False
        print("ok", sum(map(len, layers)))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr


def test_missing_codebook_is_a_clear_error(tmp_path):
    from prosem_core.codec import CodecError

    p = default_pipeline(codebook=tmp_path / "none")
    with pytest.raises(CodecError, match="missing"):
        _ = p.codec


def test_prosem_ask_on_a_cat_png(tmp_path, codebook):
    from PIL import Image

    png = tmp_path / "chelsea.png"
    Image.fromarray(cat_photo()).save(png)
    proc = subprocess.run([sys.executable, "-m", "prosem_core.cli.main", "ask", "--image", str(png), "--question",
                           "what is in the image?", "--codebook", str(codebook), "--json"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["uncompressed"]["label"] in CAT_LABELS
    assert len(report["prefixes"]) >= 2
    assert [r["prefix"] for r in report["prefixes"]] == list(range(1, len(report["prefixes"]) + 1))
    bytes_ = [r["bytes"] for r in report["prefixes"]]
    assert bytes_ == sorted(bytes_) and bytes_[-1] < report["uncompressed"]["bytes"]
    assert report["codec_error"] is None


def test_prosem_ask_missing_image(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "prosem_core.cli.main", "ask", "--image", str(tmp_path / "x.png"),
                           "--question", "what?"], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "no such image" in proc.stderr
