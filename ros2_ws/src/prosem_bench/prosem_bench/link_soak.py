"""Soak under hostile traffic: a long run of the real nodes that must stay correct, responsive and flat.

Edge ns: edge_node + the bench camera (5 fps); cloud ns: cloud_node, a probe asking about the latest
frame every `query_period_s`, and prosem_bench.attacker (random-byte layers under junk stream ids, a
well-formed genuine layer moved 10^6 frames ahead every second, oversize and control-character
questions every 5 s). The link between them is shaped to `rate_bps`. RSS of the cloud and the edge
is sampled every second. At the end every process gets Ctrl-C and must exit 0.

What it reports: genuine questions asked / answered, answers about a forged frame (must be 0), how the
hostile questions were answered (must be refused as bad requests), the memory trend of each node
(slope over the second half; bounded when it grows < 2 % of its level over that span) and the exit
codes.
"""
from __future__ import annotations

import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from prosem_bench.link import LinkBenchConfig, camera_stack
from prosem_bench.link_procs import JsonLinesProc, LoggedProc, console_script, ros_args
from prosem_bench.link_stats import memory_trend, rss_mb, summary
from prosem_core import wire_codes
from prosem_core.bench.netns import LinkConfig, ShapedLink, dds_env

AHEAD = 1_000_000  # frames a forged layer is moved into the future


@dataclass
class SoakConfig:
    duration_s: float = 600.0
    rate_bps: int = 1_000_000
    fps: float = 5.0
    query_period_s: float = 0.2
    camera_frames: int = 40
    startup_timeout_s: float = 120.0
    codebook: str = ""
    domain_id: int = field(default_factory=lambda: random.SystemRandom().randint(120, 200))
    log_dir: str = ""


def _log(msg: str) -> None:
    print(f"[bench link soak] {msg}", file=sys.stderr, flush=True)


def run(cfg: SoakConfig) -> dict:
    log_dir = Path(cfg.log_dir or tempfile.mkdtemp(prefix="prosem-bench-soak-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    frames_npy = camera_stack(LinkBenchConfig(camera_frames=cfg.camera_frames), log_dir / "camera_frames.npy")
    env = dds_env(cfg.domain_id)
    py = sys.executable
    common = {"codebook": cfg.codebook} if cfg.codebook else {}
    out: dict = {"config": asdict(cfg), "logs": str(log_dir)}
    with ShapedLink(LinkConfig(rate_bps=cfg.rate_bps)) as link:
        cloud = LoggedProc(link, "cloud", [console_script("cloud_node"), *ros_args(common)], env, log_dir / "soak.cloud.log")
        edge = LoggedProc(link, "edge", [console_script("edge_node"), *ros_args(common)], env, log_dir / "soak.edge.log")
        camera = JsonLinesProc(link, "edge", [py, "-m", "prosem_bench.camera", "--frames-npy", str(frames_npy),
                                              "--fps", str(cfg.fps), "--tap-layers", "prosem/layers"], env,
                               log_dir / "soak.camera.log")
        probe = JsonLinesProc(link, "cloud", [py, "-m", "prosem_bench.probe", "--trigger", "period", "--period-s",
                                              str(cfg.query_period_s), "--timeout-s", "3", "--kind", "first:0.0"],
                              env, log_dir / "soak.probe.log")
        attacker = None
        try:
            probe.wait_for(lambda: any(a.get("success") for a in probe.snapshot("answer")), cfg.startup_timeout_s,
                           "first answer", watch=(cloud, edge, camera))
            attacker = JsonLinesProc(link, "cloud", [py, "-m", "prosem_bench.attacker", "--ahead", str(AHEAD)], env,
                                     log_dir / "soak.attacker.log")
            t0 = time.time()
            _log(f"nodes up; soaking {cfg.duration_s:.0f} s under hostile traffic")
            rss: dict[str, list[tuple[float, float]]] = {"cloud": [], "edge": []}
            end = time.monotonic() + cfg.duration_s
            next_report = time.monotonic() + 60
            while time.monotonic() < end:
                for name, proc in (("cloud", cloud), ("edge", edge)):
                    proc.check_alive()
                    value = rss_mb(proc.proc.pid)
                    if value is not None:
                        rss[name].append((round(time.time() - t0, 1), round(value, 1)))
                if time.monotonic() >= next_report:
                    next_report += 60
                    ok = sum(bool(a.get("success")) for a in probe.snapshot("answer") if a["sent"] >= t0)
                    _log(f"{time.time() - t0:.0f} s: {ok} answers, cloud {rss['cloud'][-1][1]} MB, edge {rss['edge'][-1][1]} MB")
                time.sleep(1.0)
            out.update(_report(probe.snapshot("answer"), attacker.snapshot(), rss, t0))
        except (RuntimeError, TimeoutError) as exc:
            out["error"] = str(exc)
            out["cloud_log_tail"] = cloud.tail()
            out["edge_log_tail"] = edge.tail()
            _log(f"FAILED: {exc}")
        finally:
            # Ctrl-C for everyone; the nodes must finish cleanly after ten minutes of this.
            codes = {name: link.stop(p.proc) for name, p in (("attacker", attacker), ("probe", probe), ("camera", camera),
                                                              ("edge", edge), ("cloud", cloud)) if p is not None}
            out["exit_codes"] = codes
            link.close()
            for p in (cloud, edge, camera, probe, attacker):
                if p is not None:
                    p.close()
    out["clean_exit"] = all(code == 0 for code in out["exit_codes"].values())
    return out


def _report(answers: list[dict], attack: list[dict], rss: dict, t0: float) -> dict:
    genuine = [a for a in answers if a["sent"] >= t0]
    ok = [a for a in genuine if a.get("success")]
    forged = [a for a in ok if a["frame_seq"] >= AHEAD // 2]
    hostile = [e for e in attack if e.get("ev") == "hostile_answer"]
    sent = next((e for e in reversed(attack) if e.get("ev") == "sent"), {})
    refused = [e for e in hostile if not e["success"] and e["error_code"] == wire_codes.ERROR_BAD_REQUEST]
    memory = {name: memory_trend(series) for name, series in rss.items()}
    for name, series in rss.items():
        memory[name]["rss_mb_series"] = series[:: max(1, len(series) // 60)]
    return {
        "genuine": {"asked": len(genuine), "answered": len(ok), "answered_about_forged_frame": len(forged),
                    "query_to_answer_s": summary(a["t"] - a["sent"] for a in ok)},
        "hostile": {"junk_layers": sent.get("junk", 0), "forged_layers": sent.get("forged", 0),
                    "questions": len(hostile), "refused_bad_request": len(refused),
                    "answered": sum(e["success"] for e in hostile),
                    "reply_s": summary(e["t"] - e["sent"] for e in hostile)},
        "memory": memory,
        "targets": {"every_genuine_question_answered": len(ok) == len(genuine) and len(genuine) > 0,
                    "no_answer_from_forged_frame": not forged,
                    "hostile_questions_refused": len(refused) == len(hostile) and len(hostile) > 0,
                    "memory_bounded": all(m.get("bounded") for m in memory.values())},
    }
