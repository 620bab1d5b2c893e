"""Edge footprint: edge_node on ONNX Runtime with torch hidden, one core, a 10 fps 640x480 camera.

edge_node runs through prosem_bench.hide_modules (torch and transformers refuse to import),
pinned to one CPU, in the edge namespace of a 1 Mbit/s link with cloud_node on the other side (the
real feedback loop). The bench camera publishes 10 fps and taps what the edge sends and its counters.
Measured: RSS every second (steady = median of the second half), frames in / encoded / dropped at the
hand-off, and capture -> layer-0-published latency in the first and second half: if the edge queued
frames instead of dropping to the latest, that latency would grow with time.
"""
from __future__ import annotations

import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from prosem_bench.link_procs import JsonLinesProc, LoggedProc, console_script, ros_args
from prosem_bench.link_stats import rss_mb, summary
from prosem_core.bench.camera_sequence import CameraConfig, CameraSequence
from prosem_core.bench.netns import LinkConfig, ShapedLink, dds_env


@dataclass
class FootprintConfig:
    duration_s: float = 40.0
    fps: float = 10.0
    max_encode_rate_hz: float = 10.0   # ask the edge to try to keep up with every frame
    hide: str = "torch,transformers"
    cpu: int = 0
    rate_bps: int = 1_000_000
    startup_timeout_s: float = 120.0
    codebook: str = ""                 # "" = the shipped one
    domain_id: int = field(default_factory=lambda: random.SystemRandom().randint(120, 200))
    log_dir: str = ""


def _log(msg: str) -> None:
    print(f"[bench link footprint] {msg}", file=sys.stderr, flush=True)


def run(cfg: FootprintConfig) -> dict:
    log_dir = Path(cfg.log_dir or tempfile.mkdtemp(prefix="prosem-bench-footprint-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    cam = CameraSequence(CameraConfig(fps=cfg.fps))
    npy = log_dir / "frames.npy"
    np.save(npy, np.stack([cam.frame(i) for i in range(40)]))
    env = dds_env(cfg.domain_id)
    out: dict = {"config": asdict(cfg)}
    with ShapedLink(LinkConfig(rate_bps=cfg.rate_bps)) as link:
        common = {"codebook": cfg.codebook} if cfg.codebook else {}
        cloud = LoggedProc(link, "cloud", [console_script("cloud_node"), *ros_args({"mode": "progressive", **common})], env,
                           log_dir / "fp.cloud.log")
        edge_argv = [sys.executable, "-m", "prosem_bench.hide_modules", "--hide", cfg.hide, "--cpus", str(cfg.cpu),
                     console_script("edge_node"), *ros_args({"mode": "progressive", "runtime": "onnx",
                                                             "max_encode_rate_hz": cfg.max_encode_rate_hz, **common})]
        edge = LoggedProc(link, "edge", edge_argv, env, log_dir / "fp.edge.log")
        camera = JsonLinesProc(link, "edge", [sys.executable, "-m", "prosem_bench.camera", "--frames-npy", str(npy),
                                              "--fps", str(cfg.fps), "--tap-counters", "/prosem_edge/counters"],
                               env, log_dir / "fp.camera.log")
        try:
            camera.wait_for(lambda: bool(camera.snapshot("layer")), cfg.startup_timeout_s, "the edge's first layer",
                            watch=(edge, cloud))
            # Counters come every counters_period_s: start from one, so rates have a known interval.
            camera.wait_for(lambda: bool(camera.snapshot("counters")), 30, "the edge's ~/counters", watch=(edge,))
            _log(f"edge up without {cfg.hide}; measuring {cfg.duration_s:.0f} s at {cfg.fps:g} fps")
            t0 = time.time()
            c0 = _last_counters(camera)
            rss = []
            end = time.monotonic() + cfg.duration_s
            while time.monotonic() < end:
                edge.check_alive()
                value = rss_mb(edge.proc.pid)
                if value is not None:
                    rss.append(value)
                time.sleep(1.0)
            t1 = time.time()
            time.sleep(2.5)  # one more counters message
            c1 = _last_counters(camera)
            out.update(_report(cfg, camera.snapshot("layer"), camera.snapshot("capture"), rss, c0, c1, t0, t1))
            out["torch_hidden_and_running"] = True
        except (RuntimeError, TimeoutError) as exc:
            out["error"] = str(exc)
            out["edge_log_tail"] = edge.tail()
            out["torch_hidden_and_running"] = False
            _log(f"FAILED: {exc}")
        finally:
            link.close()
            cloud.close()
            edge.close()
            camera.close()
    out["logs"] = str(log_dir)
    return out


def _last_counters(camera: JsonLinesProc) -> tuple[float, dict]:
    """(arrival time, counters) of the edge's newest ~/counters message ((0, {}) if none yet)."""
    events = camera.snapshot("counters")
    return (events[-1]["t"], events[-1]["counters"]) if events else (0.0, {})


def _report(cfg: FootprintConfig, layers: list, captures: list, rss: list, c0: dict, c1: dict, t0: float, t1: float) -> dict:
    base = {}
    for e in layers:
        if e["idx"] == 0 and e["seq"] not in base:
            base[e["seq"]] = e
    sent = [e for e in base.values() if t0 <= e["t"] <= t1]
    mid = (t0 + t1) / 2
    lat_first = [e["t"] - e["stamp"] for e in sent if e["t"] < mid]
    lat_second = [e["t"] - e["stamp"] for e in sent if e["t"] >= mid]
    span = t1 - t0
    (tc0, c0), (tc1, c1) = c0, c1
    delta = {k: c1.get(k, 0) - c0.get(k, 0) for k in ("frames_in", "frames_encoded", "frames_dropped_handoff", "frames_skipped_rate",
                                     "frames_skipped_rate_cap")}
    counted_s = tc1 - tc0  # counters come every counters_period_s: rates over their own interval
    half = rss[len(rss) // 2:]
    s1, s2 = summary(lat_first), summary(lat_second)
    return {
        "camera_fps": round(sum(1 for c in captures if t0 <= c["stamp"] <= t1) / span, 2),
        "frames_published_fps": round(len(sent) / span, 2),
        "counters_delta": delta,
        "counters_interval_s": round(counted_s, 2),
        "frames_in_fps": round(delta["frames_in"] / counted_s, 2) if c0 and counted_s > 0 else None,
        "encoded_fps": round(delta["frames_encoded"] / counted_s, 2) if c0 and counted_s > 0 else None,
        "capture_to_publish_s_first_half": s1,
        "capture_to_publish_s_second_half": s2,
        "rss_mb": {"steady_median": round(float(np.median(half)), 1) if half else None,
                   "max": round(max(rss), 1) if rss else None, "samples": len(rss)},
        # Not queueing: latency in the second half no worse than the first (plus one frame interval).
        "keeps_up_by_dropping": (s1["median"] is not None and s2["median"] is not None
                                 and s2["median"] <= s1["median"] + 1.0 / cfg.fps),
        "targets": {"rss_le_300mb": (round(float(np.median(half)), 1) <= 300.0) if half else None},
    }
