"""Pipeline.check(role): what a node calls at start. Every failure is one ModelSetupError line naming the
problem and the exact command that fixes it; codebooks are bound to their model by fingerprint."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from vlm_helpers import calibrate, tiny_model, write_photos

pytest.importorskip("transformers")

from prosem_core.models.errors import ModelSetupError  # noqa: E402
from prosem_core.models.fingerprint import vlm_fingerprint  # noqa: E402
from prosem_core.pipeline import Pipeline, PipelineConfig  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("vlmcheck")
    smol, llava = tiny_model(root, "smolvlm", 3), tiny_model(root, "llava", 4)
    photos = write_photos(root / "photos", 12)
    assert calibrate("smolvlm", smol, photos, root / "smol_cb") == 0
    assert calibrate("llava", llava, photos, root / "llava_cb") == 0
    return {"root": root, "smolvlm": smol, "llava": llava, "smol_cb": root / "smol_cb", "llava_cb": root / "llava_cb"}


def _error(cfg: PipelineConfig, role: str) -> str:
    with pytest.raises(ModelSetupError) as err:
        Pipeline(cfg).check(role)
    text = str(err.value)
    assert "\n" not in text and "; fix: " in text, text
    return text


def test_a_matching_setup_passes_for_both_roles(setup):
    for role in ("edge", "cloud", "both"):
        summary = Pipeline(PipelineConfig(model="smolvlm", model_dir=str(setup["smolvlm"]), runtime="onnx",
                                          codebook=str(setup["smol_cb"]))).check(role)
        assert summary["token_shape"] == (16, 48) and summary["model"] == "smolvlm"


@pytest.mark.parametrize("role", ["edge", "cloud"])
def test_missing_model_directory(setup, role):
    text = _error(PipelineConfig(model="smolvlm", model_dir=str(setup["root"] / "absent"), runtime="onnx",
                                 codebook=str(setup["smol_cb"])), role)
    assert "does not exist" in text and "model_dir:=DIR" in text


def test_missing_onnx_export_names_the_export_command(setup, tmp_path):
    text = _error(PipelineConfig(model="llava", model_dir=str(setup["llava"]), runtime="onnx-int8",
                                 codebook=str(setup["llava_cb"]), onnx_dir=str(tmp_path)), "edge")
    assert f"fix: prosem export-onnx --model llava --model-dir {setup['llava']} --out {tmp_path}" in text
    # the cloud does not need the edge's export
    Pipeline(PipelineConfig(model="llava", model_dir=str(setup["llava"]), runtime="onnx-int8",
                            codebook=str(setup["llava_cb"]), onnx_dir=str(tmp_path))).check("cloud")


def test_missing_codebook_names_calibrate(setup):
    text = _error(PipelineConfig(model="smolvlm", model_dir=str(setup["smolvlm"]), runtime="onnx"), "edge")
    assert "no shipped codebook" in text
    assert f"prosem calibrate --model smolvlm --model-dir {setup['smolvlm']}" in text
    text = _error(PipelineConfig(model="smolvlm", model_dir=str(setup["smolvlm"]), runtime="onnx",
                                 codebook=str(setup["root"] / "nope")), "cloud")
    assert "missing" in text and "prosem calibrate --model smolvlm" in text


def test_codebook_of_another_model_names_both_fingerprints(setup):
    fp_smol = vlm_fingerprint(setup["smolvlm"], ("vision_model.", "connector."))
    fp_llava = json.loads((setup["root"] / "llava_cb.json").read_text())["provenance"]["model"]["fingerprint"]
    for role in ("edge", "cloud"):
        text = _error(PipelineConfig(model="smolvlm", model_dir=str(setup["smolvlm"]), runtime="onnx",
                                     codebook=str(setup["llava_cb"])), role)
        assert fp_smol in text and fp_llava in text and "llava" in text and "smolvlm" in text


def test_same_architecture_other_weights_is_another_model(setup, tmp_path):
    other = tiny_model(tmp_path, "smolvlm", 99)  # same config, other random weights
    text = _error(PipelineConfig(model="smolvlm", model_dir=str(other), runtime="torch",
                                 codebook=str(setup["smol_cb"])), "edge")
    assert "was calibrated for model smolvlm" in text


def test_codebook_without_fingerprint_is_refused_except_the_shipped_default(setup, tmp_path):
    from prosem_core.codec import MetaAutoEncoder

    old = MetaAutoEncoder.load(setup["smol_cb"])
    old.provenance = {"model": "answerer"}  # what calibrate wrote before codebooks were bound
    old.save(tmp_path / "old_cb")
    text = _error(PipelineConfig(model="smolvlm", model_dir=str(setup["smolvlm"]), runtime="onnx",
                                 codebook=str(tmp_path / "old_cb")), "edge")
    assert "names no model fingerprint" in text
    Pipeline(PipelineConfig(runtime="onnx")).check("edge")  # the shipped default codebook still loads


def test_token_shape_mismatch_names_image_splitting(setup):
    text = _error(PipelineConfig(model="smolvlm", model_dir=str(setup["smolvlm"]), runtime="onnx",
                                 codebook=str(setup["smol_cb"]), image_splitting=True), "edge")
    assert "(16, 48)" in text and "(208, 48)" in text and "--image-splitting" in text


def test_export_of_another_model_is_refused(setup, tmp_path):
    moved = tmp_path / "smol"
    shutil.copytree(setup["smolvlm"], moved)
    shutil.copy(setup["llava"] / "prosem_onnx" / "vision_projector.json",
                moved / "prosem_onnx" / "vision_connector.json")  # a stale/foreign manifest
    text = _error(PipelineConfig(model="smolvlm", model_dir=str(moved), runtime="onnx",
                                 codebook=str(setup["smol_cb"])), "edge")
    assert "made from another model" in text and "--force" in text


def test_fingerprint_is_stable_and_names_the_vision_half(setup, tmp_path):
    markers = ("vision_model.", "connector.")
    fp = vlm_fingerprint(setup["smolvlm"], markers)
    assert len(fp) == 16 and fp == vlm_fingerprint(setup["smolvlm"], markers)
    copy = tmp_path / "copy"
    shutil.copytree(setup["smolvlm"], copy)  # another path, same model
    assert vlm_fingerprint(copy, markers) == fp
    cfg = json.loads((copy / "config.json").read_text())
    cfg["transformers_version"] = "0.0.0"  # re-saved by another version: same model
    (copy / "config.json").write_text(json.dumps(cfg))
    assert vlm_fingerprint(copy, markers) == fp
    from safetensors.numpy import load_file, save_file

    weights = load_file(copy / "model.safetensors")
    lm_key = next(k for k in weights if "text_model" in k)
    weights[lm_key] = weights[lm_key] + np.float32(1.0)  # the language half does not decide the tokens
    save_file(weights, copy / "model.safetensors", metadata={"format": "pt"})
    assert vlm_fingerprint(copy, markers) == fp
    vis_key = next(k for k in weights if "vision_model." in k)
    weights[vis_key] = weights[vis_key] + np.float32(1e-3)
    save_file(weights, copy / "model.safetensors", metadata={"format": "pt"})
    assert vlm_fingerprint(copy, markers) != fp
