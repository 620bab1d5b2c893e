"""8 robots x 5 fps into one cloud node: memory over time and query latency vs a single stream.

One run, two phases on the same cloud process: first one stream alone (`solo_s`), then all eight.
The robots are one replay process (prosem_bench.replay: real camera tokens coded live by the
shipped codec, pulls served) in the edge namespace; the link is shaped to streams x rate, the sum of
eight 1 Mbit/s uplinks. A probe in the cloud namespace asks the latest frame of each stream in turn
(first answer, min_fidelity 0) every `query_period_s`. The cloud's RSS is sampled every second.
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
from prosem_bench.link_stats import memory_trend, ratio, rss_mb, summary
from prosem_core.bench.camera_sequence import CameraSequence
from prosem_core.bench.netns import LinkConfig, ShapedLink, dds_env


@dataclass
class MultiConfig:
    streams: int = 8
    fps: float = 5.0
    rate_bps: int = 1_000_000          # per robot; the veth gets streams x rate
    duration_s: float = 120.0          # the 8-stream phase
    solo_s: float = 30.0               # single-stream phase before it
    query_period_s: float = 0.25
    push_bytes: int = 0                # per frame; 0 = what one robot's link carries at fps (85 %)
    token_frames: int = 20
    startup_timeout_s: float = 120.0
    codebook: str = ""                 # "" = the shipped one
    domain_id: int = field(default_factory=lambda: random.SystemRandom().randint(120, 200))
    log_dir: str = ""


def _log(msg: str) -> None:
    print(f"[bench link multi] {msg}", file=sys.stderr, flush=True)


def camera_tokens(n: int, path: Path) -> Path:
    """Tokens of n camera frames (the torch encoder, as the cloud would compute them)."""
    from prosem_core.pipeline import default_pipeline

    cam = CameraSequence()
    enc = default_pipeline().encoder
    tokens = np.stack([enc.encode(cam.frame(i * 3)) for i in range(n)]).astype(np.float32)
    np.save(path, tokens)
    return path


def run(cfg: MultiConfig) -> dict:
    log_dir = Path(cfg.log_dir or tempfile.mkdtemp(prefix="prosem-bench-multi-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    _log(f"encoding {cfg.token_frames} camera frames to tokens; logs in {log_dir}")
    tokens_npy = camera_tokens(cfg.token_frames, log_dir / "tokens.npy")
    namespaces = [f"robot{i}" for i in range(cfg.streams)]
    push = cfg.push_bytes or int(cfg.rate_bps * 0.85 / 8 / cfg.fps)
    env = dds_env(cfg.domain_id)
    out: dict = {"config": asdict(cfg), "push_bytes_per_frame": push, "link_rate_bps": cfg.rate_bps * cfg.streams}
    with ShapedLink(LinkConfig(rate_bps=cfg.rate_bps * cfg.streams)) as link:
        cloud_params = {"mode": "progressive", "namespaces": "[" + ",".join(namespaces) + "]"}
        if cfg.codebook:
            cloud_params["codebook"] = cfg.codebook
        cloud = LoggedProc(link, "cloud", [console_script("cloud_node"), *ros_args(cloud_params)], env, log_dir / "multi.cloud.log")
        replay_extra = ["--codebook", cfg.codebook] if cfg.codebook else []
        probe_argv = [sys.executable, "-m", "prosem_bench.probe", "--trigger", "period", "--period-s", str(cfg.query_period_s),
                      "--timeout-s", "3", "--kind", "first:0.0"]
        for ns in namespaces:
            probe_argv += ["--stream-id", ns]
        try:
            # The probe cycles through all streams; during the solo phase only robot0 exists, so ask it alone.
            solo_probe = JsonLinesProc(link, "cloud", probe_argv[: probe_argv.index("--stream-id")] + ["--stream-id", namespaces[0]],
                                       env, log_dir / "multi.probe_solo.log")
            replay = JsonLinesProc(link, "edge", [sys.executable, "-m", "prosem_bench.replay", "--tokens-npy", str(tokens_npy),
                                                  "--fps", str(cfg.fps), "--push-bytes", str(push), *replay_extra,
                                                  "--namespaces", *namespaces[:1]], env, log_dir / "multi.replay_solo.log")
            solo_probe.wait_for(lambda: any(a.get("success") for a in solo_probe.snapshot("answer")), cfg.startup_timeout_s,
                                "first answer (solo stream)", watch=(cloud, replay))
            rss: list[tuple[float, float]] = []
            t_solo = time.time()
            _sample(cloud, rss, cfg.solo_s)
            solo = [a for a in solo_probe.snapshot("answer") if a["sent"] >= t_solo]
            link.stop(solo_probe.proc)
            link.stop(replay.proc)
            # All streams (robot0 restarts with a new epoch, like a rebooted robot).
            replay = JsonLinesProc(link, "edge", [sys.executable, "-m", "prosem_bench.replay", "--tokens-npy", str(tokens_npy),
                                                  "--fps", str(cfg.fps), "--push-bytes", str(push), *replay_extra,
                                                  "--namespaces", *namespaces],
                                   env, log_dir / "multi.replay.log")
            probe = JsonLinesProc(link, "cloud", probe_argv, env, log_dir / "multi.probe.log")
            probe.wait_for(lambda: sum(bool(a.get("success")) for a in probe.snapshot("answer")) >= cfg.streams,
                           60, "answers from every stream", watch=(cloud, replay))
            t_multi = time.time()
            _log(f"all {cfg.streams} streams up; measuring {cfg.duration_s:.0f} s")
            _sample(cloud, rss, cfg.duration_s)
            multi = [a for a in probe.snapshot("answer") if a["sent"] >= t_multi]
            cloud.check_alive()
            frames = replay.snapshot("frame")
            out.update(_report(cfg, solo, multi, rss, t_solo, t_multi, frames))
        except (RuntimeError, TimeoutError) as exc:
            out["error"] = str(exc)
            out["cloud_log_tail"] = cloud.tail()
            _log(f"FAILED: {exc}")
        finally:
            link.close()
            cloud.close()
    out["logs"] = str(log_dir)
    return out


def _sample(cloud: LoggedProc, rss: list, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        cloud.check_alive()
        value = rss_mb(cloud.proc.pid)
        if value is not None:
            rss.append((time.time(), value))
        time.sleep(1.0)


def _frame_to_answer(answers: list[dict], frames: list[dict]) -> list[float]:
    stamps = {(f["stream"], f["seq"]): f["stamp"] for f in frames}
    return [a["t"] - stamps[(a["stream_id"], a["frame_seq"])] for a in answers
            if a.get("success") and (a["stream_id"], a["frame_seq"]) in stamps]


def _report(cfg: MultiConfig, solo: list, multi: list, rss: list, t_solo: float, t_multi: float, frames: list) -> dict:
    def q(answers):
        ok = [a for a in answers if a.get("success")]
        return {"queries": len(answers), "answered": len(ok), "query_to_answer_s": summary(a["t"] - a["sent"] for a in ok),
                "cloud_latency_s": summary(a["latency_s"] for a in ok)}

    solo_q, multi_q = q(solo), q(multi)
    multi_q["frame_to_answer_s"] = summary(_frame_to_answer(multi, frames))
    answered_streams = [a["stream_id"] for a in multi if a.get("success")]
    multi_q["per_stream_answered"] = {s: answered_streams.count(s) for s in sorted(set(answered_streams))}
    series = [(round(t - t_multi, 1), round(m, 1)) for t, m in rss]
    solo_rss = [m for t, m in series if t < 0]
    trend = memory_trend([(t, m) for t, m in series if t >= 0])
    mem: dict = {"rss_mb_series": series[:: max(1, len(series) // 60)]}
    if "bounded" in trend:
        mem.update({
            "rss_mb_solo_end": round(float(np.median(solo_rss[-5:])), 1) if solo_rss else None,
            "rss_mb_multi_start": trend["rss_mb_start"], "rss_mb_multi_mid": trend["rss_mb_mid"],
            "rss_mb_multi_end": trend["rss_mb_end"],
            "rss_slope_mb_per_min_second_half": trend["rss_slope_mb_per_min_second_half"], "bounded": trend["bounded"],
        })
    p95_solo = solo_q["query_to_answer_s"]["p95"]
    p95_multi = multi_q["query_to_answer_s"]["p95"]
    return {"solo": solo_q, "multi": multi_q, "memory": mem, "duration_multi_s": cfg.duration_s,
            "p95_ratio_multi_over_solo": ratio(p95_multi, p95_solo),
            "targets": {"p95_le_2x_single": None if ratio(p95_multi, p95_solo) is None else ratio(p95_multi, p95_solo) <= 2.0,
                        "memory_bounded": mem.get("bounded")}}
