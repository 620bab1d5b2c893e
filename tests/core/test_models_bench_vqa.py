"""`prosem bench vqa` on a few images: report structure and the properties every row must have."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from models_helpers import ensure_onnx


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    ensure_onnx()
    out = tmp_path_factory.mktemp("bench") / "vqa.json"
    proc = subprocess.run([sys.executable, "-m", "prosem_core.cli.main", "bench", "vqa", "--images", "6",
                           "--no-encoders", "--no-int8", "--json", str(out)], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


def test_reference_row_agrees_with_itself(report):
    ref = report["conditions"][0]
    assert ref["name"] == "uncompressed" and ref["bytes_mean"] == 49 * 1280 * 4
    assert ref["exact_agreement"] == 1.0 and ref["minilm_cosine"] == pytest.approx(1.0)
    assert report["images"] == 6 and report["questions"] > 30


def test_every_row_has_the_three_metrics(report):
    names = [r["name"] for r in report["conditions"]]
    assert {"pool 1", "pool 4", "fp16"} <= set(names)
    for r in report["conditions"]:
        for key in ("accuracy", "exact_agreement", "minilm_cosine"):
            assert 0.0 <= r[key] <= 1.0 + 1e-6, (r["name"], key)
        assert r["minilm_cosine"] >= r["exact_agreement"] - 1e-6  # agreeing answers have cosine 1


def test_codec_rows_when_a_codebook_exists(report):
    if report["codec"] is None:
        assert report["codec_error"]  # said why, baselines still ran
        return
    rows = [r for r in report["conditions"] if r["kind"] == "codec"]
    assert [r["prefix"] for r in rows] == list(range(1, report["codec"]["layers"] + 1))
    assert all(a["bytes_mean"] < b["bytes_mean"] for a, b in zip(rows, rows[1:]))
    assert all(0.0 <= r["fidelity_mean"] <= 1.0 for r in rows)


def test_open_question_section_on_photos(report):
    photos = report["photos_open_questions"]
    if report["codec"] is None:
        assert photos is None
        return
    assert [r["prefix"] for r in photos["prefixes"]] == list(range(1, report["codec"]["layers"] + 1))
    cat = photos["uncompressed_answers"]["is there a cat?"][photos["photos"].index("chelsea")]
    assert cat.startswith("Yes")
    for r in photos["prefixes"]:
        for q in photos["questions"]:
            assert 0.0 <= r[q]["label_agreement"] <= 1.0 and -1.0 <= r[q]["minilm_cosine"] <= 1.0 + 1e-6
