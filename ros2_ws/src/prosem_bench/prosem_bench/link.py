"""`prosem bench link`: edge and cloud nodes on two sides of a real 1 Mbit/s link, measured end to end.

Each scenario builds a fresh ShapedLink (two namespaces, tbf both ways), starts there
    edge ns:  edge_node (mode under test) + bench camera (640x480 natural-image sequence, 5 fps, stamped at
              capture) whose local tap records what the edge publishes (frame_seq -> capture stamp, bytes)
    cloud ns: cloud_node + query probe (asks prosem/query the moment the cloud acknowledges a new frame,
              or the latest frame every period_s when no acknowledgement comes)
and measures, per answer: frame-to-answer latency = answer received - capture stamp of the frame the
answer is about (one machine, one clock), payload bytes used, fidelity, and the kernel's byte count on the
veth. Impairments (datagram loss, link cut) are applied by the harness during the measuring window.
"""
from __future__ import annotations

import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from prosem_bench.link_procs import JsonLinesProc, LoggedProc, console_script, ros_args
from prosem_bench.link_stats import capture_index, ratio, summary
from prosem_core.bench.camera_sequence import CameraConfig, CameraSequence
from prosem_core.bench.netns import LinkConfig, ShapedLink, dds_env

QUESTIONS = ("what is in the image?", "what is this?", "what object is shown?")
# Baselines the issue names that the nodes cannot run yet, and why (kept in the JSON, not silently dropped).
NOT_MEASURED: dict[str, str] = {}


@dataclass
class LinkBenchConfig:
    rate_bps: int = 1_000_000
    fps: float = 5.0
    measure_s: float = 30.0          # measuring window per scenario (after warm-up)
    startup_timeout_s: float = 120.0  # nodes build models at start; first answer must come by then
    first_min_fidelity: float = 0.0   # progressive first answer: whatever arrived first
    # Refined answer: the frame's whole layer stack (1.0 is never "reached", so the cloud pulls every
    # layer and answers once the frame is complete; robust to how the codec scales fidelity).
    refined_min_fidelity: float = 1.0
    query_timeout_s: float = 3.0
    period_s: float = 1.0             # probe falls back to "latest frame" questions this often
    loss_percent: int = 30
    cut_s: float = 5.0
    cut_at_s: float = 8.0             # when the cut starts, within the measuring window
    camera_frames: int = 120          # distinct frames precomputed (looped)
    codebook: str = ""                # codec codebook for both nodes ("" = the shipped one)
    # Fast DDS XML profile for every process; "" = $FASTDDS_DEFAULT_PROFILES_FILE, else netns.LARGE_FRAMES_PROFILE.
    dds_profile: str = ""
    domain_id: int = field(default_factory=lambda: random.SystemRandom().randint(120, 200))
    log_dir: str = ""


@dataclass
class Scenario:
    name: str
    edge_params: dict[str, Any]
    kinds: list[str]                          # probe kinds "NAME:MIN_FIDELITY"
    cloud_params: dict[str, Any] = field(default_factory=dict)  # mode defaults to the edge's
    impairment: str = "none"                  # none | loss | cut


def _log(msg: str) -> None:
    print(f"[bench link] {msg}", file=sys.stderr, flush=True)


def default_scenarios(cfg: LinkBenchConfig) -> list[Scenario]:
    first, refined = f"first:{cfg.first_min_fidelity}", f"refined:{cfg.refined_min_fidelity}"
    return [
        Scenario("progressive", {"mode": "progressive"}, [first, refined]),
        Scenario("full_cloud_q90", {"mode": "full_cloud", "jpeg_quality": 90}, ["answer:0.0"]),
        Scenario("full_cloud_q75", {"mode": "full_cloud", "jpeg_quality": 75}, ["answer:0.0"]),
        # The raw tokens (fp16, in chunks): answered once the whole frame is there.
        Scenario("full_tokens", {"mode": "full_tokens"}, ["answer:0.0"]),
        Scenario("progressive_loss", {"mode": "progressive"}, [first, refined], impairment="loss"),
        Scenario("progressive_cut", {"mode": "progressive"}, [first], impairment="cut"),
        # Temporal layers against keyframes, without and with loss: base-layer bytes per frame at the
        # agreement of the first answers with the uncompressed tokens' answers.
        Scenario("temporal", {"mode": "progressive", "temporal": True}, [first]),
        Scenario("temporal_loss", {"mode": "progressive", "temporal": True}, [first], impairment="loss"),
    ]


def camera_stack(cfg: LinkBenchConfig, path: Path) -> Path:
    """Precompute the camera frames once (all scenarios see the same pixels)."""
    cam = CameraSequence(CameraConfig(fps=cfg.fps))
    stack = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(cfg.camera_frames, 480, 640, 3))
    for i in range(cfg.camera_frames):
        stack[i] = cam.frame(i)
    stack.flush()
    return path


def run_scenario(cfg: LinkBenchConfig, sc: Scenario, frames_npy: Path, log_dir: Path,
                 reference: Callable[[int, str], str] | None = None) -> dict:
    env = dds_env(cfg.domain_id, profile=cfg.dds_profile or None)
    py = sys.executable
    result: dict[str, Any] = {"scenario": sc.name, "edge_params": sc.edge_params, "impairment": sc.impairment}
    with ShapedLink(LinkConfig(rate_bps=cfg.rate_bps)) as link:
        t_start = time.monotonic()
        common = {"codebook": cfg.codebook} if cfg.codebook else {}
        cloud_params = {"mode": sc.edge_params.get("mode", "progressive"), **common, **sc.cloud_params}
        cloud = LoggedProc(link, "cloud", [console_script("cloud_node"), *ros_args(cloud_params)], env,
                           log_dir / f"{sc.name}.cloud.log")
        edge = LoggedProc(link, "edge", [console_script("edge_node"), *ros_args({**common, **sc.edge_params})], env,
                          log_dir / f"{sc.name}.edge.log")
        camera = JsonLinesProc(link, "edge", [py, "-m", "prosem_bench.camera", "--frames-npy", str(frames_npy),
                                              "--fps", str(cfg.fps)], env, log_dir / f"{sc.name}.camera.log")
        probe_argv = [py, "-m", "prosem_bench.probe", "--trigger", "feedback", "--period-s", str(cfg.period_s),
                      "--timeout-s", str(cfg.query_timeout_s)]
        for kind in sc.kinds:
            probe_argv += ["--kind", kind]
        for q in QUESTIONS:
            probe_argv += ["--question", q]
        probe = JsonLinesProc(link, "cloud", probe_argv, env, log_dir / f"{sc.name}.probe.log")
        procs = (cloud, edge)
        try:
            _log(f"{sc.name}: waiting for the first answer (nodes build their models)")
            probe.wait_for(lambda: any(e.get("success") for e in probe.snapshot("answer")),
                           cfg.startup_timeout_s, "first successful answer", watch=(cloud, edge, camera))
            result["startup_s"] = round(time.monotonic() - t_start, 2)
            # Measuring window.
            c0 = {r: link.counters(r) for r in ("edge", "cloud")}
            w0 = time.time()
            dropped: dict[str, int] = {}
            timeline = _impair(link, cfg, sc.impairment, dropped)
            w1 = time.time()
            c1 = {r: link.counters(r) for r in ("edge", "cloud")}
            for p in procs:
                p.check_alive()
            result["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)  # shared machine: context for the numbers
            result.update(_analyse(cfg, sc, probe.snapshot("answer"), camera.snapshot("layer"),
                                   camera.snapshot("capture"), w0, w1, c0, c1, timeline, reference))
            if dropped:
                result["loss_dropped_datagrams_by_sender"] = dropped
        except (RuntimeError, TimeoutError) as exc:
            result["error"] = str(exc)
            result["edge_log_tail"] = edge.tail()
            result["cloud_log_tail"] = cloud.tail()
            _log(f"{sc.name}: FAILED: {exc}")
        finally:
            link.close()
            for p in (cloud, edge, camera, probe):
                p.close()
    return result


def _impair(link: ShapedLink, cfg: LinkBenchConfig, impairment: str, dropped: dict) -> dict:
    """Run the measuring window with its impairment; returns the impairment's timeline (wall clock).
    `dropped` receives the datagrams the loss rule dropped per sending side."""
    timeline: dict[str, float] = {}
    if impairment == "loss":
        link.set_loss(cfg.loss_percent)
        timeline["loss_on"] = time.time()
        time.sleep(cfg.measure_s)
        dropped.update({r: link.loss_dropped(r) for r in ("edge", "cloud")})  # before the rule goes
        link.set_loss(0)
    elif impairment == "cut":
        time.sleep(cfg.cut_at_s)
        link.set_link(False)
        timeline["cut_down"] = time.time()
        time.sleep(cfg.cut_s)
        link.set_link(True)
        timeline["cut_up"] = time.time()
        time.sleep(max(0.0, cfg.measure_s - cfg.cut_at_s - cfg.cut_s))
    else:
        time.sleep(cfg.measure_s)
    return timeline


def _analyse(cfg: LinkBenchConfig, sc: Scenario, answers: list[dict], layers: list[dict], captures: list[dict],
             w0: float, w1: float, c0: dict, c1: dict, timeline: dict,
             reference: Callable[[int, str], str] | None = None) -> dict:
    frames = capture_index(layers)
    index_of = {round(c["stamp"], 4): c["i"] for c in captures}
    window = [a for a in answers if w0 <= a["sent"] <= w1]
    out: dict[str, Any] = {"window_s": round(w1 - w0, 2), "queries": len(window)}
    wire_edge_tx = c1["edge"]["tx_bytes"] - c0["edge"]["tx_bytes"]
    wire_cloud_tx = c1["cloud"]["tx_bytes"] - c0["cloud"]["tx_bytes"]
    sent_frames = {s: f for s, f in frames.items() if w0 <= f["first_t"] <= w1}
    payload = sum(sum(f["layers"].values()) for f in sent_frames.values())
    n_captured = sum(1 for c in captures if w0 <= c["stamp"] <= w1)
    out["link"] = {
        "edge_to_cloud_wire_bytes": wire_edge_tx, "cloud_to_edge_wire_bytes": wire_cloud_tx,
        "edge_to_cloud_bps": round(wire_edge_tx * 8 / (w1 - w0)), "payload_bytes_published": payload,
        # Wire bytes per payload byte: DDS/RTPS, UDP, IP headers, discovery, retransmissions.
        "wire_per_payload": round(wire_edge_tx / payload, 3) if payload else None,
        "frames_captured": n_captured, "frames_sent": len(sent_frames),
        "tbf_dropped_edge": c1["edge"]["qdisc_dropped"] - c0["edge"]["qdisc_dropped"],
        # What the base layer of a frame costs (temporal vs keyframes): payload bytes of layer 0 per frame sent.
        "base_layer_bytes_per_frame": round(float(np.mean([f["layers"][0] for f in sent_frames.values() if 0 in f["layers"]])), 1)
        if any(0 in f["layers"] for f in sent_frames.values()) else None,
    }
    if payload and wire_edge_tx < payload:
        out["link"]["warning"] = "veth carried fewer bytes than were published: data bypassed the shaped link"
    wire_factor = out["link"]["wire_per_payload"] or 1.0
    jpeg_mode = sc.edge_params.get("mode") == "full_cloud"
    kinds = sorted({a["kind"] for a in window})
    per_kind: dict[str, Any] = {}
    for kind in kinds:
        rows = [a for a in window if a["kind"] == kind]
        ok = [a for a in rows if a.get("success")]
        f2a, edge_s, tx_s, overhead, link_bytes_used, f2a_latest = [], [], [], [], [], []
        for a in ok:
            f = frames.get(a["frame_seq"])
            if f is None:
                continue
            if a["seq_asked"] < 0:
                # A "latest frame" question asked on the timer (no acknowledgement for period_s): its
                # latency includes however long the frame sat at the cloud before being asked about.
                f2a_latest.append(a["t"] - f["stamp"])
                continue
            f2a.append(a["t"] - f["stamp"])
            edge_s.append(f["first_t"] - f["stamp"])
            # Bytes this answer needed over the link: the JPEG (full_cloud) or the layer prefix used.
            link_bytes = sum(f["layers"].values()) if jpeg_mode else a["bytes_used"]
            link_bytes_used.append(link_bytes)
            tx = link_bytes * wire_factor * 8 / cfg.rate_bps
            tx_s.append(tx)
            # What is not explained by edge compute (capture -> layer 0 published), transmission of the
            # bytes used at the link rate, and the cloud's own time (request -> response).
            overhead.append(a["t"] - f["stamp"] - (f["first_t"] - f["stamp"]) - tx - a["latency_s"])
        agree = []
        if reference is not None:
            for a in ok:
                f = frames.get(a["frame_seq"])
                i = index_of.get(round(f["stamp"], 4)) if f else None
                if i is not None:
                    agree.append(_label(a["answer"]) == _label(reference(i % cfg.camera_frames, a["question"])))
        per_kind[kind] = {
            "queries": len(rows), "answered": len(ok), "answered_fraction": round(len(ok) / len(rows), 4) if rows else None,
            "agreement_with_uncompressed": round(sum(agree) / len(agree), 4) if agree else None,
            "agreement_n": len(agree),
            "frame_to_answer_s": summary(f2a), "frame_to_answer_latest_on_timer_s": summary(f2a_latest),
            "query_to_answer_s": summary(a["t"] - a["sent"] for a in ok),
            "cloud_latency_s": summary(a["latency_s"] for a in ok), "edge_capture_to_publish_s": summary(edge_s),
            "transmission_s": summary(tx_s), "overhead_s": summary(overhead),
            "link_bytes_per_answer": summary(link_bytes_used),
            "bytes_used": summary(a["bytes_used"] for a in ok), "layers_used": summary(a["layers_used"] for a in ok),
            "fidelity": summary(a["fidelity"] for a in ok),
            "fidelity_reached_fraction": round(sum(bool(a["fidelity_reached"]) for a in ok) / len(ok), 4) if ok else None,
            "errors": sorted({a.get("error", "") for a in rows if not a.get("success")})[:5],
            "answers_seen": sorted({a.get("answer", "") for a in ok})[:8],
            "unmatched_frames": len(ok) - len(f2a) - len(f2a_latest),
        }
    out["kinds"] = per_kind
    out["answers_by_scene"] = _answers_by_scene(cfg, window, frames, captures)
    if "cut_up" in timeline:
        out["cut"] = _cut_stats(window, frames, timeline)
    out["timeline"] = {k: round(v - w0, 3) for k, v in timeline.items()}
    return out


def _answers_by_scene(cfg: LinkBenchConfig, answers: list[dict], frames: dict, captures: list[dict]) -> dict:
    """What the answers said, per photo the camera was looking at (a check that answers across the
    link are about the right picture): scene -> {answer's first words: count}, top 3."""
    scene_of = CameraSequence(CameraConfig(fps=cfg.fps)).scene_of
    index_of = {round(c["stamp"], 4): c["i"] for c in captures}
    counts: dict[str, dict[str, int]] = {}
    for a in answers:
        f = frames.get(a.get("frame_seq"))
        i = index_of.get(round(f["stamp"], 4)) if f and a.get("success") else None
        if i is None:
            continue
        head = a["answer"].split(" (")[0].split(";")[0][:40]  # "I see an espresso (95%)." -> "I see an espresso"
        scene = counts.setdefault(scene_of(i % cfg.camera_frames), {})
        scene[head] = scene.get(head, 0) + 1
    return {s: dict(sorted(c.items(), key=lambda kv: -kv[1])[:3]) for s, c in counts.items()}


def _cut_stats(answers: list[dict], frames: dict, timeline: dict) -> dict:
    down, up = timeline["cut_down"], timeline["cut_up"]
    ok = [a for a in answers if a.get("success")]

    def first_after(min_capture: float) -> float | None:
        times = [a["t"] for a in ok if a["t"] >= up and a["frame_seq"] in frames and frames[a["frame_seq"]]["stamp"] >= min_capture]
        return round(min(times) - up, 3) if times else None

    during = [a for a in answers if down <= a["sent"] <= up]
    return {
        "cut_s": round(up - down, 3),
        # Resume = first answer about a frame captured after the link came back (strict), or after the
        # cut began (frames the edge held back during the cut).
        "resume_after_up_s": first_after(up),
        "resume_any_new_frame_s": first_after(down),
        "queries_during_cut": len(during),
        "answered_during_cut": sum(bool(a.get("success")) for a in during),
    }


def machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        info["load_avg_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return info


def reference_answers(frames_npy: Path, codebook: str = "") -> Callable[[int, str], str]:
    """What the cloud would answer about camera frame i from its uncompressed tokens (the edge's ONNX
    encoder, no codec): the yardstick of answer agreement. Memoised per (frame, question)."""
    from prosem_core.pipeline import default_pipeline

    pipeline = default_pipeline(runtime="onnx", codebook=codebook or None)
    frames = np.load(frames_npy, mmap_mode="r")
    tokens: dict[int, np.ndarray] = {}
    answers: dict[tuple[int, str], str] = {}

    def answer(i: int, question: str) -> str:
        if (i, question) not in answers:
            if i not in tokens:
                tokens[i] = pipeline.encoder.encode(np.asarray(frames[i]))
            answers[(i, question)] = pipeline.answerer.answer(tokens[i], question).text
        return answers[(i, question)]

    return answer


def _label(answer: str) -> str:
    """"I see an espresso (95%)." -> "I see an espresso": agreement compares what was said, not the confidence."""
    return answer.split(" (")[0].split(";")[0].strip()


def run(cfg: LinkBenchConfig, scenarios: list[Scenario] | None = None,
        progress: Callable[[str], None] = _log) -> dict:
    scenarios = scenarios if scenarios is not None else default_scenarios(cfg)
    log_dir = Path(cfg.log_dir or tempfile.mkdtemp(prefix="prosem-bench-link-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    progress(f"precomputing {cfg.camera_frames} camera frames; logs in {log_dir}")
    frames_npy = camera_stack(cfg, log_dir / "camera_frames.npy")
    results = {}
    try:
        reference = reference_answers(frames_npy, cfg.codebook)
        for sc in scenarios:
            progress(f"scenario {sc.name} ({sc.impairment}), {cfg.measure_s:.0f} s window")
            results[sc.name] = run_scenario(cfg, sc, frames_npy, log_dir, reference)
    finally:
        frames_npy.unlink(missing_ok=True)
    return {"config": asdict(cfg), "machine": machine(), "link_rate_bps": cfg.rate_bps,
            "dds_profile": dds_env(0, profile=cfg.dds_profile or None).get("FASTDDS_DEFAULT_PROFILES_FILE", ""),
            "scenarios": results,
            "summary": headline(results), "not_measured": NOT_MEASURED, "logs": str(log_dir)}


def rows(single: dict) -> list[dict]:
    """One row per scenario and query kind (the README's table)."""
    out = []
    for name, sc in single["scenarios"].items():
        for kind, k in sc.get("kinds", {}).items():
            out.append({"method": f"{name}/{kind}", "answered": f"{k['answered']}/{k['queries']}",
                        "frame_to_answer_median_s": k["frame_to_answer_s"]["median"],
                        "frame_to_answer_p95_s": k["frame_to_answer_s"]["p95"],
                        "link_bytes_median": k["link_bytes_per_answer"]["median"],
                        "layers_used_median": k["layers_used"]["median"], "fidelity_median": k["fidelity"]["median"],
                        "edge_to_cloud_bps": sc["link"]["edge_to_cloud_bps"]})
        if "error" in sc:
            out.append({"method": name, "answered": "error: " + sc["error"][:80]})
    return out


def _median(results: dict, scenario: str, kind: str, metric: str = "frame_to_answer_s"):
    try:
        return results[scenario]["kinds"][kind][metric]["median"]
    except (KeyError, TypeError):
        return None


def _p95(results: dict, scenario: str, kind: str, metric: str = "frame_to_answer_s"):
    try:
        return results[scenario]["kinds"][kind][metric]["p95"]
    except (KeyError, TypeError):
        return None


def _at_most(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def headline(results: dict) -> dict:
    """Ratios and target checks, all from this run's numbers."""
    first = _median(results, "progressive", "first")
    q90 = _median(results, "full_cloud_q90", "answer")
    out = {
        "progressive_first_median_s": first,
        "progressive_refined_median_s": _median(results, "progressive", "refined"),
        "full_cloud_q90_median_s": q90,
        "full_cloud_q75_median_s": _median(results, "full_cloud_q75", "answer"),
        "full_tokens_median_s": _median(results, "full_tokens", "answer"),
        "full_tokens_p95_s": _p95(results, "full_tokens", "answer"),
        "full_tokens_link_bytes_median": _median(results, "full_tokens", "answer", "link_bytes_per_answer"),
        "ratio_first_over_full_cloud_q90": ratio(first, q90),
        "progressive_first_overhead_median_s": _median(results, "progressive", "first", "overhead_s"),
    }
    loss = results.get("progressive_loss", {}).get("kinds", {})
    out["loss_answered_fraction"] = {k: v["answered_fraction"] for k, v in loss.items()}
    cut = results.get("progressive_cut", {}).get("cut", {})
    out["cut_resume_after_up_s"] = cut.get("resume_after_up_s")
    for impairment, (key, temporal) in {"none": ("progressive", "temporal"), "loss": ("progressive_loss", "temporal_loss")}.items():
        k_bytes = results.get(key, {}).get("link", {}).get("base_layer_bytes_per_frame")
        t_bytes = results.get(temporal, {}).get("link", {}).get("base_layer_bytes_per_frame")
        k_agree = _kind(results, key, "first", "agreement_with_uncompressed")
        t_agree = _kind(results, temporal, "first", "agreement_with_uncompressed")
        out[f"temporal_{impairment}"] = {
            "keyframe_base_bytes_per_frame": k_bytes, "temporal_base_bytes_per_frame": t_bytes,
            "bytes_ratio": ratio(t_bytes, k_bytes), "keyframe_agreement": k_agree, "temporal_agreement": t_agree}
    fractions = list(out["loss_answered_fraction"].values())
    out["targets"] = {
        "first_le_0.15x_full_cloud_q90": _at_most(out["ratio_first_over_full_cloud_q90"], 0.15),
        "overhead_median_le_30ms": _at_most(out["progressive_first_overhead_median_s"], 0.030),
        "loss_every_query_answered": all(v == 1.0 for v in fractions) if fractions else None,
        "cut_resume_le_2s": _at_most(out["cut_resume_after_up_s"], 2.0),
        **{f"temporal_{imp}_bytes_le_0.6x_at_equal_agreement": _temporal_target(out[f"temporal_{imp}"]) for imp in ("none", "loss")},
    }
    return out


def _kind(results: dict, scenario: str, kind: str, metric: str):
    return results.get(scenario, {}).get("kinds", {}).get(kind, {}).get(metric)


def _temporal_target(t: dict) -> bool | None:
    """Temporal base layers at most 0.6x the keyframes' bytes, with answer agreement within 0.01 (or better)."""
    if t["bytes_ratio"] is None or t["keyframe_agreement"] is None or t["temporal_agreement"] is None:
        return None
    return t["bytes_ratio"] <= 0.6 and t["temporal_agreement"] >= t["keyframe_agreement"] - 0.01
