"""`prosem calibrate --model smolvlm|llava`: the codebook names its model (fingerprint), tokens are cached
per image next to --out so a rerun resumes, and a time cap stops encoding early."""
from __future__ import annotations

import json

import pytest
from vlm_helpers import calibrate, tiny_model, write_photos

pytest.importorskip("transformers")

from prosem_core.codec import MetaAutoEncoder  # noqa: E402
from prosem_core.pipeline import Pipeline, PipelineConfig  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("vlmcal")
    return root, tiny_model(root, "smolvlm", 11), write_photos(root / "photos", 10)


def _calibration(out) -> dict:
    return json.loads((out.parent / (out.name + ".json")).read_text())["provenance"]


def test_codebook_is_bound_to_the_model_and_a_rerun_reuses_the_cache(setup, tmp_path):
    _, model_dir, photos = setup
    out = tmp_path / "cb"
    assert calibrate("smolvlm", model_dir, photos, out) == 0
    prov = _calibration(out)
    fingerprint = Pipeline(PipelineConfig(model="smolvlm", model_dir=str(model_dir))).fingerprint
    assert prov["model"]["family"] == "smolvlm" and prov["model"]["fingerprint"] == fingerprint
    assert prov["model"]["model_dir"] == str(model_dir.resolve()) and prov["model"]["token_shape"] == [16, 48]
    assert prov["calibration"] == {"images": 10, "from_cache": 0, "computed": 10, "not_encoded": 0}
    first = MetaAutoEncoder.load(out).codebook_id
    assert list((tmp_path / "cb.cache").glob("*/shard_*.npz"))

    assert calibrate("smolvlm", model_dir, photos, out) == 0  # resumed: nothing to encode
    assert _calibration(out)["calibration"] == {"images": 10, "from_cache": 10, "computed": 0, "not_encoded": 0}
    assert MetaAutoEncoder.load(out).codebook_id == first  # same tokens, same codebook

    assert calibrate("smolvlm", model_dir, photos, out, "--image-splitting", "--max-images", "4") == 0
    prov = _calibration(out)  # other options, other tokens: a separate cache, nothing reused
    assert prov["calibration"]["from_cache"] == 0 and prov["model"]["token_shape"] == [208, 48]


def test_time_cap_stops_encoding_and_a_rerun_continues(setup, tmp_path):
    _, model_dir, photos = setup
    out = tmp_path / "capped"
    assert calibrate("smolvlm", model_dir, photos, out, "--max-images", "3") == 0  # 3 images cached
    assert calibrate("smolvlm", model_dir, photos, out, "--max-minutes", "1e-6") == 0  # no time for more
    cal = _calibration(out)["calibration"]
    assert cal["from_cache"] == 3 and cal["computed"] == 0 and cal["not_encoded"] == 7 and cal["stopped_by"] == "time"
    assert calibrate("smolvlm", model_dir, photos, out) == 0
    assert _calibration(out)["calibration"] == {"images": 10, "from_cache": 3, "computed": 7, "not_encoded": 0}


def test_the_default_model_codebook_gets_a_fingerprint_too(tmp_path):
    import numpy as np

    from prosem_core.cli.main import main
    from prosem_core.models.fingerprint import default_fingerprint

    rng = np.random.default_rng(0)
    np.save(tmp_path / "tok.npy", rng.standard_normal((16, 49, 1280)).astype(np.float32))
    assert main(["calibrate", "--tokens", str(tmp_path / "tok.npy"), "--metric", "none", "--out", str(tmp_path / "cb"),
                 "--detail-components", "16"]) == 0
    prov = _calibration(tmp_path / "cb")
    assert prov["model"]["family"] == "default" and prov["model"]["fingerprint"] == default_fingerprint()
    Pipeline(PipelineConfig(runtime="onnx", codebook=str(tmp_path / "cb"))).check("edge")


def test_calibrate_errors_are_one_line(setup, tmp_path, capsys):
    from prosem_core.cli.main import main

    _, model_dir, photos = setup
    assert main(["calibrate", "--model", "llava", "--model-dir", str(model_dir), "--images", str(photos),
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "holds a smolvlm model" in err[-1]
    assert main(["calibrate", "--model", "smolvlm", "--model-dir", str(model_dir), "--images", str(photos)]) == 2
    assert "needs --out" in capsys.readouterr().err
