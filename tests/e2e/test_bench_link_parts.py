"""The harness of `prosem bench link` (prosem_bench) without running it: statistics, the module
hider, the CLI plugin, the reports."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from prosem_bench.link_stats import capture_index, ratio, summary
from prosem_core.cli.main import main as prosem_main


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
    proc = subprocess.run([sys.executable, "-m", "prosem_bench.hide_modules", "--hide", "xml", str(script), "--ros-args", "-p", "a:=1"],
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


def _answer(t, sent, seq, kind="first", seq_asked=None, success=True, bytes_used=1000, latency=0.02):
    return {"ev": "answer", "t": t, "sent": sent, "seq_asked": seq if seq_asked is None else seq_asked, "kind": kind,
            "success": success, "error": "" if success else "frame 3 not held", "answer": "a cat", "frame_seq": seq,
            "layers_used": 1, "bytes_used": bytes_used, "fidelity": 0.8, "latency_s": latency, "fidelity_reached": True}


def test_analyse_measures_from_capture_stamp_and_splits_out_timer_questions():
    from prosem_bench.link import LinkBenchConfig, Scenario, _analyse

    cfg = LinkBenchConfig(rate_bps=1_000_000)
    sc = Scenario("progressive", {"mode": "progressive"}, ["first:0.0"])
    # Frame 1 captured at 100.0, layer 0 published at 100.1 (edge compute 0.1 s).
    layers = [{"ev": "layer", "seq": 1, "idx": 0, "stamp": 100.0, "t": 100.1, "bytes": 1000},
              {"ev": "layer", "seq": 2, "idx": 0, "stamp": 100.2, "t": 100.3, "bytes": 1000}]
    captures = [{"ev": "capture", "i": 0, "stamp": 100.0}, {"ev": "capture", "i": 1, "stamp": 100.2}]
    answers = [_answer(100.15, 100.12, 1),                      # triggered by the acknowledgement of frame 1
               _answer(101.0, 100.9, 2, seq_asked=-1),          # a timer question about the latest frame
               _answer(101.2, 101.1, 3, success=False)]
    counters = {"tx_bytes": 0, "rx_bytes": 0, "qdisc_dropped": 0}
    after = {"tx_bytes": 2500, "rx_bytes": 0, "qdisc_dropped": 0}
    out = _analyse(cfg, sc, answers, layers, captures, 99.9, 101.5, {"edge": counters, "cloud": counters},
                   {"edge": after, "cloud": counters}, {})
    k = out["kinds"]["first"]
    assert k["queries"] == 3 and k["answered"] == 2 and k["answered_fraction"] == pytest.approx(2 / 3, abs=1e-3)
    assert k["frame_to_answer_s"]["n"] == 1 and k["frame_to_answer_s"]["median"] == pytest.approx(0.15)
    assert k["frame_to_answer_latest_on_timer_s"]["median"] == pytest.approx(0.8)
    # 2500 wire bytes for 2000 payload bytes: 1000 B used -> 1250 B on the wire -> 10 ms at 1 Mbit/s.
    assert out["link"]["wire_per_payload"] == pytest.approx(1.25)
    assert k["transmission_s"]["median"] == pytest.approx(0.01)
    # 0.15 - 0.1 (edge) - 0.01 (link) - 0.02 (cloud) = 0.02 s nobody accounts for.
    assert k["overhead_s"]["median"] == pytest.approx(0.02)
    assert k["errors"] == ["frame 3 not held"]
    # Camera frames 0 and 1 show the first scene (the cat); both answers were about them.
    assert out["answers_by_scene"] == {"chelsea": {"a cat": 2}}


def test_cut_stats_resume_counts_only_frames_after_the_link_returns():
    from prosem_bench.link import _cut_stats

    frames = {1: {"stamp": 9.0}, 2: {"stamp": 14.5}, 3: {"stamp": 15.3}}
    answers = [_answer(12.0, 11.9, 1), _answer(15.2, 15.1, 2), _answer(15.9, 15.8, 3)]
    stats = _cut_stats(answers, frames, {"cut_down": 10.0, "cut_up": 15.0})
    assert stats["resume_after_up_s"] == pytest.approx(0.9)       # frame 3, captured after 15.0
    assert stats["resume_any_new_frame_s"] == pytest.approx(0.2)  # frame 2, captured during the cut
    assert stats["queries_during_cut"] == 1 and stats["answered_during_cut"] == 1


def test_multi_report_memory_bounded_and_p95_ratio():
    from prosem_bench.link_multi import MultiConfig, _report

    def answers(lat):
        return [{"t": 1.0 + lat, "sent": 1.0, "success": True, "latency_s": lat, "stream_id": "robot0", "frame_seq": 0}
                for _ in range(20)]

    flat = [(1000.0 + i, 500.0) for i in range(-10, 120)]
    report = _report(MultiConfig(), answers(0.1), answers(0.15), flat, 990.0, 1000.0, [])
    assert report["memory"]["bounded"] is True and report["p95_ratio_multi_over_solo"] == pytest.approx(1.5)
    growing = [(1000.0 + i, 500.0 + 0.5 * i) for i in range(-10, 120)]  # 30 MB/min
    report = _report(MultiConfig(), answers(0.1), answers(0.3), growing, 990.0, 1000.0, [])
    assert report["memory"]["bounded"] is False and report["targets"]["p95_le_2x_single"] is False
    assert report["memory"]["rss_slope_mb_per_min_second_half"] == pytest.approx(30.0, rel=0.01)


def test_footprint_report_rates_from_counter_times():
    from prosem_bench.edge_footprint import FootprintConfig, _report

    layers = [{"ev": "layer", "seq": i, "idx": 0, "stamp": 10.0 + 0.1 * i, "t": 10.05 + 0.1 * i} for i in range(100)]
    captures = [{"stamp": 10.0 + 0.1 * i} for i in range(100)]
    c0 = (12.0, {"frames_in": 20, "frames_encoded": 20})
    c1 = (20.0, {"frames_in": 100, "frames_encoded": 60, "frames_dropped_handoff": 40})
    out = _report(FootprintConfig(), layers, captures, [250.0] * 10, c0, c1, 10.0, 20.0)
    assert out["frames_in_fps"] == pytest.approx(10.0) and out["encoded_fps"] == pytest.approx(5.0)
    assert out["keeps_up_by_dropping"] is True and out["rss_mb"]["steady_median"] == 250.0
    assert out["targets"]["rss_le_300mb"] is True


def test_memory_trend_tells_a_leak_from_a_warm_up():
    from prosem_bench.link_stats import memory_trend

    warm_up = [(t, 300.0 + min(t, 60) * 0.5) for t in range(600)]  # grows for a minute, then flat
    leak = [(t, 300.0 + t * 0.1) for t in range(600)]  # 6 MB/min for ten minutes
    flat = memory_trend(warm_up)
    assert flat["bounded"] and abs(flat["rss_slope_mb_per_min_second_half"]) < 0.01 and flat["rss_mb_end"] == 330.0
    leaking = memory_trend(leak)
    assert not leaking["bounded"] and leaking["rss_slope_mb_per_min_second_half"] == pytest.approx(6.0)
    assert memory_trend(leak[:5]) == {"samples": 5}


def test_soak_report_counts_forged_answers_and_refusals():
    from prosem_bench.link_soak import AHEAD, _report

    answers = [{"sent": 10.0 + i, "t": 10.05 + i, "success": True, "frame_seq": 100 + i} for i in range(20)]
    answers.append({"sent": 5.0, "t": 5.1, "success": False, "frame_seq": 0})  # before the soak started: not counted
    attack = [{"ev": "sent", "junk": 50, "forged": 10, "questions": 4},
              *({"ev": "hostile_answer", "sent": 11.0, "t": 11.01, "success": False, "error_code": 1} for _ in range(4))]
    rss = {"cloud": [(t, 300.0) for t in range(30)], "edge": [(t, 200.0) for t in range(30)]}
    report = _report(answers, attack, rss, t0=10.0)
    assert report["genuine"]["asked"] == 20 and report["genuine"]["answered"] == 20
    assert all(report["targets"].values())
    answers.append({"sent": 40.0, "t": 40.1, "success": True, "frame_seq": AHEAD + 120})  # the forged frame answered
    attack.append({"ev": "hostile_answer", "sent": 41.0, "t": 41.2, "success": True, "error_code": 0})
    report = _report(answers, attack, rss, t0=10.0)
    assert report["genuine"]["answered_about_forged_frame"] == 1
    assert not report["targets"]["no_answer_from_forged_frame"] and not report["targets"]["hostile_questions_refused"]


def test_temporal_target_needs_fewer_bytes_at_equal_agreement():
    from prosem_bench.link import _label, _temporal_target

    assert _label("I see an espresso (95%); it could also be cup.") == "I see an espresso"
    t = {"bytes_ratio": 0.5, "keyframe_agreement": 0.95, "temporal_agreement": 0.945}
    assert _temporal_target(t) is True
    assert _temporal_target({**t, "bytes_ratio": 0.7}) is False
    assert _temporal_target({**t, "temporal_agreement": 0.93}) is False  # cheaper, but answers worse
    assert _temporal_target({**t, "keyframe_agreement": None}) is None  # not measured: no verdict
