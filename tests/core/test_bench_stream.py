"""`prosem bench stream` end to end on a tiny sequence (quick config): rows, bytes, summary, CLI."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from models_helpers import ensure_onnx

from prosem_core.bench.stream import StreamBenchConfig, quick_config, run


@pytest.fixture(scope="module")
def report():
    ensure_onnx()
    return run(quick_config(frames=8, video_codecs=("h264",), sizes=("224",)), log=lambda _s: None)


def test_rows_cover_every_method_and_setting(report):
    methods = {(r["method"], r["setting"]) for r in report["rows"]}
    layers = report["meta"]["codec"]["layer_count"]
    for k in range(1, layers + 1):
        assert ("codec-keyframe", f"k={k}") in methods and ("codec-temporal(ki=6)", f"k={k}") in methods
    assert {("h264@224x224", "crf=45"), ("h264@224x224", "crf=30")} <= methods
    for r in report["rows"]:
        assert 0.0 <= r["agreement_all"] <= 1.0 and 0.0 <= r["label_cosine_all"] <= 1.0
        assert r["bytes_per_frame"] > 0


def test_codec_bytes_and_question_bytes(report):
    rows = {(r["method"], r["setting"]): r for r in report["rows"]}
    key = [rows[("codec-keyframe", f"k={k}")] for k in range(1, report["meta"]["codec"]["layer_count"] + 1)]
    assert all(a["bytes_per_frame"] < b["bytes_per_frame"] for a, b in zip(key, key[1:]))
    for r in key:  # keyframes: a question needs the frame's own layers, nothing else
        assert r["question_bytes"]["cold_mean"] == pytest.approx(r["bytes_per_frame"])
        assert r["loss_cost"]["isolated"]["frames_without_answer"] == 1.0
        assert r["loss_cost"]["isolated"]["extra_bytes_per_loss"] == 0.0
    temporal = rows[("codec-temporal(ki=6)", "k=1")]
    # 8 frames, keyframe every 6: 2 keyframes; the chain makes a cold question cost more than one frame.
    assert temporal["extra"]["keyframes"] == 2
    assert temporal["question_bytes"]["cold_mean"] > 2 * temporal["bytes_per_frame"]
    assert temporal["steady_bytes_per_frame"] < key[0]["bytes_per_frame"]


def test_video_rows_count_the_stream_bytes(report):
    from prosem_core.bench.camera_sequence import CameraConfig, CameraSequence
    from prosem_core.bench.stream_video import encode_frames
    from prosem_core.models.preprocess import resize_rgb

    cam = CameraSequence(CameraConfig(fps=5.0, seed=0))
    src = [resize_rgb(cam.frame(i), 224) for i in range(8)]
    again = encode_frames(src, "h264", 45, 5.0, report["meta"]["video"]["keyframe_interval_frames"])
    row = next(r for r in report["rows"] if r["method"] == "h264@224x224" and r["setting"] == "crf=45")
    assert row["bytes_per_frame"] == pytest.approx(again.frame_bytes.mean())
    since = np.cumsum(again.frame_bytes[:6]).tolist() + np.cumsum(again.frame_bytes[6:]).tolist()  # keyframes at 0, 6
    assert row["question_bytes"]["cold_mean"] == pytest.approx(np.mean(since))
    assert row["extra"]["keyframe_positions"] == [0, 6]
    idr = row["loss_cost"]["isolated"]["request_idr"]
    assert idr["bytes_until_next_answer"] == pytest.approx(again.frame_bytes[[0, 6]].mean())


def test_summary_has_each_target_for_all_and_confident_frames(report):
    s = report["summary"]
    for key in ("agreement_all", "agreement_confident"):
        assert set(s["bytes_per_frame_at_target"][key]) == {"0.90", "0.95", "0.98"}
        for v in s["bytes_per_frame_at_target"][key].values():
            assert v["verdict"]
    assert isinstance(s["goal_met"], bool) and s["statements"]
    assert report["meta"]["reference"]["confident_frames"] >= 0
    json.dumps(report)  # the whole report is plain JSON


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="sizes"):
        StreamBenchConfig(sizes=("1080",))
    with pytest.raises(ValueError, match="frames"):
        StreamBenchConfig(frames=1)
    with pytest.raises(ValueError, match="random_loss"):
        StreamBenchConfig(random_loss=1.5)


def test_cli_writes_json_and_plot(tmp_path):
    from prosem_core.cli.main import main

    ensure_onnx()
    out, png = tmp_path / "stream.json", tmp_path / "stream.png"
    rc = main(["bench", "stream", "--quick", "--frames", "4", "--video-codecs", "h264", "--sizes", "224",
               "--temporal-intervals", "3", "--json", str(out), "--plot", str(png)])
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["meta"]["sequence"]["frames"] == 4 and png.stat().st_size > 10_000
    assert main(["bench", "stream", "--quick", "--frames", "4", "--video-codecs", "h264", "--sizes", "224",
                 "--temporal-intervals", "0", "--json", str(out)]) == 2  # bad interval: clear error, exit 2
