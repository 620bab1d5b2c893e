"""How many robots one cloud node serves: 1, 8, 16, 32 and 64 streams at 5 fps.

Per stream count, a fresh cloud node serves robot0..robotN-1; the robots are prosem_bench.replay
processes (8 streams each, --pre-encoded: real camera tokens coded once by the shipped codec and
renumbered per frame, so the robots cost almost nothing and the cloud is what is measured) in the
edge namespace, behind a link shaped to N x `rate_bps`. A probe in the cloud namespace asks the latest
frame of each stream in turn every `query_period_s`; a tap reads the cloud's ~/counters. Over the
measuring window: query latency (median, p95), the cloud's CPU seconds per second per stream, its RSS,
and the share of the layers the robots published that the cloud took in (below 1 = it saturates).
"""
from __future__ import annotations

import math
import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from prosem_bench.link_multi import camera_tokens
from prosem_bench.link_procs import JsonLinesProc, LoggedProc, console_script, ros_args
from prosem_bench.link_stats import ratio, rss_mb, summary
from prosem_core.bench.netns import LinkConfig, ShapedLink, dds_env

STREAMS_PER_PROCESS = 8


@dataclass
class ScaleConfig:
    counts: tuple[int, ...] = (1, 8, 16, 32, 64)
    fps: float = 5.0
    rate_bps: int = 1_000_000          # per robot
    window_s: float = 30.0
    query_period_s: float = 0.25
    token_frames: int = 20
    startup_timeout_s: float = 120.0
    codebook: str = ""
    domain_id: int = field(default_factory=lambda: random.SystemRandom().randint(120, 200))
    log_dir: str = ""


def _log(msg: str) -> None:
    print(f"[bench link scale] {msg}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (None once it is gone)."""
    import os

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(cfg: ScaleConfig, plot: Path | None = None) -> dict:
    log_dir = Path(cfg.log_dir or tempfile.mkdtemp(prefix="prosem-bench-scale-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    tokens_npy = camera_tokens(cfg.token_frames, log_dir / "tokens.npy")
    push = int(cfg.rate_bps * 0.85 / 8 / cfg.fps)
    points = [_point(cfg, n, tokens_npy, push, log_dir) for n in cfg.counts]
    out: dict = {"config": asdict(cfg), "push_bytes_per_frame": push, "logs": str(log_dir), "points": points}
    one = next((p for p in points if p["streams"] == 1 and "error" not in p), None)
    for p in points:
        if one is not None and "error" not in p:
            p["p95_over_one_stream"] = ratio(p["query_to_answer_s"]["p95"], one["query_to_answer_s"]["p95"])
    ok = [p for p in points if "error" not in p]
    at32 = next((p for p in ok if p["streams"] == 32), None)
    out["targets"] = {"p95_32_streams_le_2x_one": None if at32 is None or at32.get("p95_over_one_stream") is None
                      else at32["p95_over_one_stream"] <= 2.0}
    saturated = [p["streams"] for p in ok if p["layers_taken_in_share"] is not None and p["layers_taken_in_share"] < 0.95]
    out["saturates_at_streams"] = min(saturated) if saturated else None
    if plot is not None and ok:
        _plot(ok, plot)
        out["plot"] = str(plot)
    return out


def _point(cfg: ScaleConfig, n: int, tokens_npy: Path, push: int, log_dir: Path) -> dict:
    namespaces = [f"robot{i}" for i in range(n)]
    env = dds_env(cfg.domain_id)
    py = sys.executable
    point: dict = {"streams": n}
    _log(f"{n} stream(s)")
    with ShapedLink(LinkConfig(rate_bps=cfg.rate_bps * n)) as link:
        params = {"namespaces": "[" + ",".join(namespaces) + "]", "max_streams": max(16, n),
                  **({"codebook": cfg.codebook} if cfg.codebook else {})}
        cloud = LoggedProc(link, "cloud", [console_script("cloud_node"), *ros_args(params)], env, log_dir / f"scale{n}.cloud.log")
        tap = JsonLinesProc(link, "cloud", [py, "-m", "prosem_bench.camera", "--frames-npy", str(tokens_npy), "--fps", "0",
                                            "--tap-layers", "", "--tap-jpeg", "", "--tap-counters", "/prosem_cloud/counters"],
                            env, log_dir / f"scale{n}.tap.log")
        replays = []
        for k in range(math.ceil(n / STREAMS_PER_PROCESS)):
            group = namespaces[k * STREAMS_PER_PROCESS:(k + 1) * STREAMS_PER_PROCESS]
            replays.append(JsonLinesProc(link, "edge", [py, "-m", "prosem_bench.replay", "--tokens-npy", str(tokens_npy),
                                                        "--fps", str(cfg.fps), "--push-bytes", str(push), "--pre-encoded",
                                                        *(["--codebook", cfg.codebook] if cfg.codebook else []),
                                                        "--namespaces", *group], env, log_dir / f"scale{n}.replay{k}.log"))
        probe_argv = [py, "-m", "prosem_bench.probe", "--trigger", "period", "--period-s", str(cfg.query_period_s),
                      "--timeout-s", "3", "--kind", "first:0.0"]
        for ns in namespaces:
            probe_argv += ["--stream-id", ns]
        probe = JsonLinesProc(link, "cloud", probe_argv, env, log_dir / f"scale{n}.probe.log")
        procs = [cloud, tap, probe, *replays]
        try:
            probe.wait_for(lambda: len({a["stream_id"] for a in probe.snapshot("answer") if a.get("success")}) >= min(n, 8),
                           cfg.startup_timeout_s, "answers from the first streams", watch=(cloud, *replays))
            time.sleep(2.0)
            t0, cpu0 = time.time(), cpu_seconds(cloud.proc.pid)
            rss = []
            while time.time() - t0 < cfg.window_s:
                cloud.check_alive()
                rss.append(rss_mb(cloud.proc.pid))
                time.sleep(1.0)
            t1, cpu1 = time.time(), cpu_seconds(cloud.proc.pid)
            point.update(_measure(n, probe.snapshot("answer"), tap.snapshot("counters"),
                                  [e for r in replays for e in r.snapshot("frame")], t0, t1, cpu0, cpu1, rss))
        except (RuntimeError, TimeoutError) as exc:
            point["error"] = str(exc)
            point["cloud_log_tail"] = cloud.tail()
            _log(f"{n} streams: FAILED: {exc}")
        finally:
            link.close()
            for p in procs:
                p.close()
    return point


def _report_at(counters: list[dict], t: float) -> dict | None:
    """The cloud's last ~/counters report at or before t."""
    before = [c for c in counters if c["t"] <= t]
    return before[-1] if before else None


def _measure(n: int, answers: list[dict], counters: list[dict], frames: list[dict], t0: float, t1: float,
             cpu0: float | None, cpu1: float | None, rss: list) -> dict:
    window = [a for a in answers if t0 <= a["sent"] < t1]
    ok = [a for a in window if a.get("success")]
    published = sum(f["layers"] for f in frames if t0 <= f["stamp"] < t1)
    # Counters come every 2 s: compare the reports nearest the window's ends, scaled to the window.
    first, last = _report_at(counters, t0), _report_at(counters, t1)
    share = None
    if first is not None and last is not None and published and last["t"] > first["t"]:
        accepted = int(last["counters"].get("accepted", 0)) - int(first["counters"].get("accepted", 0))
        share = round(min(1.0, accepted / (last["t"] - first["t"]) * (t1 - t0) / published), 3)
    cpu = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / (t1 - t0)
    return {"queries": len(window), "answered": len(ok), "query_to_answer_s": summary(a["t"] - a["sent"] for a in ok),
            "streams_answered": len({a["stream_id"] for a in ok}),
            "cloud_cpu_s_per_s": None if cpu is None else round(cpu, 3),
            "cloud_cpu_s_per_s_per_stream": None if cpu is None else round(cpu / n, 4),
            "cloud_rss_mb_max": round(max(r for r in rss if r is not None), 1) if any(r is not None for r in rss) else None,
            "layers_published": published, "layers_taken_in_share": share}


def _plot(points: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [p["streams"] for p in points]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    axes[0].plot(n, [p["query_to_answer_s"]["p95"] for p in points], "o-", label="p95")
    axes[0].plot(n, [p["query_to_answer_s"]["median"] for p in points], "o-", label="median")
    axes[0].set_ylabel("query -> answer (s)")
    axes[0].legend()
    axes[1].plot(n, [p["cloud_cpu_s_per_s"] for p in points], "o-")
    axes[1].set_ylabel("cloud CPU (s per s)")
    axes[2].plot(n, [p["layers_taken_in_share"] for p in points], "o-")
    axes[2].set_ylabel("share of published layers taken in")
    axes[2].set_ylim(0, 1.05)
    for ax in axes:
        ax.set_xlabel("streams (5 fps each)")
        ax.set_xscale("log", base=2)
        ax.grid(alpha=0.3)
    fig.suptitle("One cloud node, N simulated robots (prosem bench link --only scale)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
