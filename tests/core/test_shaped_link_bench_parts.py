"""ROS-free parts of `prosem bench link`: camera sequence, statistics, the module hider, the CLI."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from prosem_core.bench.camera_sequence import CameraConfig, CameraSequence, jpeg_bytes
from prosem_core.bench.link_stats import capture_index, ratio, summary
from prosem_core.cli.main import main as prosem_main


def test_camera_sequence_is_deterministic_moving_and_natural():
    cam = CameraSequence(CameraConfig(seed=1))
    a, b = cam.frame(3), CameraSequence(CameraConfig(seed=1)).frame(3)
    assert a.shape == (480, 640, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    # The camera moves: consecutive frames differ, but are of the same scene.
    diff = np.abs(cam.frame(4).astype(int) - a.astype(int)).mean()
    assert 1.0 < diff < 60.0
    # Natural-image statistics: a 640x480 JPEG at q90 is tens of KB (a flat or random image is not).
    size = len(jpeg_bytes(a, 90))
    assert 20_000 < size < 200_000
    assert len(jpeg_bytes(a, 75)) < size
    # Scenes change over time.
    assert cam.scene_of(0) != cam.scene_of(int(cam.config.fps * cam.config.scene_s))


def test_summary_percentiles_and_empty():
    s = summary(range(1, 101))
    assert s["n"] == 100 and s["median"] == pytest.approx(50.5) and s["p95"] == pytest.approx(95.05)
    assert summary([])["median"] is None
    assert summary([1.0, float("nan"), None])["n"] == 1
    assert ratio(1.0, 4.0) == 0.25 and ratio(None, 1.0) is None and ratio(1.0, 0) is None


def test_capture_index_counts_every_copy_of_a_layer():
    events = [
        {"ev": "layer", "seq": 5, "idx": 0, "stamp": 10.0, "t": 10.2, "bytes": 300},
        {"ev": "layer", "seq": 5, "idx": 1, "stamp": 10.0, "t": 10.25, "bytes": 900},
        {"ev": "layer", "seq": 5, "idx": 1, "stamp": 10.0, "t": 10.9, "bytes": 900},  # pulled again
        {"ev": "capture", "i": 0, "stamp": 10.0},
    ]
    frames = capture_index(events)
    assert frames[5]["stamp"] == 10.0 and frames[5]["first_t"] == 10.2
    assert frames[5]["layers"] == {0: 300, 1: 1800}


def test_hide_modules_refuses_hidden_packages(tmp_path):
    script = tmp_path / "uses_json_then_hidden.py"
    script.write_text("import sys, json\nprint('args', sys.argv[1:])\nimport xml.dom\n")
    proc = subprocess.run([sys.executable, "-m", "prosem_core.bench.hide_modules", "--hide", "xml", str(script), "--ros-args", "-p", "a:=1"],
                          capture_output=True, text=True, timeout=60)
    assert "args ['--ros-args', '-p', 'a:=1']" in proc.stdout
    assert proc.returncode != 0 and "No module named 'xml'" in proc.stderr and "hidden" in proc.stderr


def test_cli_bench_link_needs_root_and_valid_sections(monkeypatch, capsys, tmp_path):
    with pytest.raises(SystemExit):
        prosem_main(["bench", "link", "--json", str(tmp_path / "x.json"), "--only", "nonsense"])
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert prosem_main(["bench", "link", "--json", str(tmp_path / "x.json"), "--quick"]) == 2
    assert "root" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
