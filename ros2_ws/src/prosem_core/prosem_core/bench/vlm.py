"""`prosem bench vlm`: bring-your-own-VLM costs on real architecture sizes with RANDOM weights.

For each model (SmolVLM-256M; the largest LLaVA-family architecture that fits here, see vlm_models.py):
- edge time per 640x480 frame for torch, ONNX fp32 and ONNX int8, as ratios to the default encoder
  (EfficientNet-Lite0 on ONNX Runtime) measured in the same run with the same thread count;
- token error of each runtime against torch on the same frames;
- bytes per codec prefix, with a codebook fitted (`prosem calibrate`) on photos through the random model;
- link time per prefix at 1 Mbit/s (wire bytes incl. UDP/IP/RTPS and message fields) against JPEG q90
  of the same frame;
- cloud time to first token and per token (language half on torch), decode time per prefix;
- peak RSS of every side, each in its own process.
Weights are random: times, memory, token errors and bytes follow the architecture; the answers and the
codebook's fit to real images do not. The report repeats this next to every number.
"""
from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

RANDOM_WEIGHTS_NOTE = ("RANDOM weights: real architecture sizes built from their configs offline; times, memory, "
                       "token errors and bytes follow the architecture, answers are meaningless")

# Wire model of one ROS 2 message over DDS/UDP: per datagram IPv4 20 + UDP 8 + RTPS header 20 + INFO_TS 12
# + DATA/DATA_FRAG submessage 24 + CDR encapsulation 4 bytes; a datagram carries at most 1400 message bytes.
DATAGRAM_OVERHEAD_BYTES = 88
DATAGRAM_PAYLOAD_BYTES = 1400
# SemanticLayer fields around the payload (CDR, aligned): header, stream id, seq/epoch/index/count, codec and
# codebook ids, token shape, keyframe, ref seq, fidelity, send stamp, sequence lengths; no auth tag.
LAYER_FIELDS_BYTES = 136
# sensor_msgs/CompressedImage around the JPEG: header, format string ("jpeg"), data length.
JPEG_FIELDS_BYTES = 40


@dataclass
class VlmBenchConfig:
    architectures: str = "real"  # "real" (bench sizes) | "tiny" (tests of the benchmark itself)
    models: tuple[str, ...] = ("smolvlm", "llava")
    work_dir: str = "build/bench_vlm"  # model dirs, exports, token caches: reused by later runs
    frames: int = 3
    calib_images: int = 24
    threads: int = 1  # 1: on a shared CPU more threads spin and wait (see models/encoder.py)
    max_new_tokens: int = 8
    runtimes: tuple[str, ...] = ("torch", "onnx", "onnx-int8")
    calib_runtime: str = "onnx-int8"  # the fastest edge runtime; the codebook fit is checked on every runtime
    link_mbit_s: float = 1.0
    jpeg_quality: int = 90
    question: str = "what is in the image?"
    worker_timeout_s: float = 1800.0


def wire_bytes(message_bytes: int) -> int:
    datagrams = max(1, math.ceil(message_bytes / DATAGRAM_PAYLOAD_BYTES))
    return int(message_bytes + datagrams * DATAGRAM_OVERHEAD_BYTES)


def link_seconds(layer_sizes: list[int], mbit_s: float) -> float:
    """Time to send these layers (one message each) at mbit_s, counting what the wire carries."""
    return sum(wire_bytes(n + LAYER_FIELDS_BYTES) for n in layer_sizes) * 8 / (mbit_s * 1e6)


def camera_frames(count: int, hw: tuple[int, int] = (480, 640)) -> tuple[list[np.ndarray], list[str]]:
    """The first `count` bundled colour photos, centre-cropped to 4:3 and resized to a 640x480 camera frame."""
    from PIL import Image

    from prosem_core.models.sample_images import bundled_photos

    colour = [(n, im) for n, im in bundled_photos() if np.ptp(im.astype(np.int16), axis=2).max() > 0]
    out, names = [], []
    for name, im in colour[:count]:
        h, w = im.shape[:2]
        ch, cw = (h, h * 4 // 3) if w * 3 >= h * 4 else (w * 3 // 4, w)
        y, x = (h - ch) // 2, (w - cw) // 2
        crop = Image.fromarray(im[y:y + ch, x:x + cw]).resize((hw[1], hw[0]), Image.Resampling.BICUBIC)
        out.append(np.asarray(crop))
        names.append(name)
    return out, names


def calibration_photos(folder: Path, count: int, skip_photos: int, seed: int = 0) -> Path:
    """`count` augmented crops of the bundled colour photos after the first `skip_photos` (the frames),
    written as PNG once: calibration never sees the frames it is measured on."""
    from PIL import Image

    from prosem_core.codec.calibration_images import photo_variants

    folder.mkdir(parents=True, exist_ok=True)
    if len(list(folder.glob("*.png"))) >= count:
        return folder
    colour_photos = 9  # photo_variants covers the bundled colour photos in order, per_photo crops each
    per_photo = max(2, math.ceil(count / max(1, colour_photos - skip_photos)))
    variants = photo_variants(per_photo, seed=seed)
    kept = variants[skip_photos * per_photo:][:count]
    for i, im in enumerate(kept):
        Image.fromarray(im).save(folder / f"calib_{i:04d}.png")
    return folder


def _python(args: list[str], timeout: float, log) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"))
    if proc.returncode != 0:
        log(f"  failed: {' '.join(args[:4])} ...: {proc.stderr.strip().splitlines()[-1:] or ['(no output)']}")
    return proc


def _worker(side: str, spec: dict, folder: Path, name: str, cfg: VlmBenchConfig, log) -> dict:
    spec = dict(spec, out=str(folder / f"{name}.json"))
    path = folder / f"{name}.spec.json"
    path.write_text(json.dumps(spec, indent=2))
    t0 = time.perf_counter()
    proc = _python(["-m", "prosem_core.bench.vlm_worker", side, str(path)], cfg.worker_timeout_s, log)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["worker failed"])[-1], "wall_s": time.perf_counter() - t0}
    result = json.loads(Path(spec["out"]).read_text())
    result["wall_s"] = time.perf_counter() - t0
    return result


def _rel_error(a: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(a.astype(np.float64) - ref) / max(np.linalg.norm(ref), 1e-30))


def _default_encoder(cfg: VlmBenchConfig, work: Path, frames_npy: Path, tag: str, log) -> dict:
    """The default encoder (EfficientNet-Lite0 on ONNX Runtime) on the same frames, same threads."""
    folder = work / "runs" / "default"
    folder.mkdir(parents=True, exist_ok=True)
    return _worker("edge", {"pipeline": {"model": "default", "runtime": "onnx", "threads": cfg.threads},
                            "frames": str(frames_npy), "tokens_out": str(folder / "tokens.npy"), "repeats": 5},
                   folder, f"edge_onnx_{tag}", cfg, log)


def _bench_model(family: str, cfg: VlmBenchConfig, work: Path, frames_npy: Path, calib: Path,
                 jpeg_link_s: list[float], log) -> dict:
    from prosem_core.bench.vlm_models import ARCHITECTURE_NAMES

    name = ARCHITECTURE_NAMES[cfg.architectures][family]
    out = work / "runs" / family
    out.mkdir(parents=True, exist_ok=True)
    result: dict = {"architecture": name, "weights": RANDOM_WEIGHTS_NOTE, "steps_s": {}}

    t = time.perf_counter()
    proc = _python(["-m", "prosem_core.bench.vlm_models", cfg.architectures, family, str(work / "models")], 3600, log)
    if proc.returncode != 0:
        return dict(result, error=f"building the random model failed: {proc.stderr[-500:]}")
    model_dir = proc.stdout.strip().splitlines()[-1]
    result["steps_s"]["build_or_reuse_model"] = time.perf_counter() - t
    result["model_dir"] = model_dir
    log(f"[{family}] {name} (random weights) in {model_dir}")

    t = time.perf_counter()
    proc = _python(["-m", "prosem_core.cli.main", "export-onnx", "--model", family, "--model-dir", model_dir,
                    "--threads", str(cfg.threads)], 3600, log)
    result["steps_s"]["export_onnx_or_reuse"] = time.perf_counter() - t
    if proc.returncode != 0:
        return dict(result, error=f"export-onnx failed: {proc.stderr[-500:]}")
    from prosem_core.models.vlm.onnx_files import onnx_dir, read_manifest, split_name

    manifest = read_manifest(onnx_dir(model_dir), split_name(family))
    result["export"] = {"token_error_vs_torch_on_sample_photos": manifest["token_error_vs_torch"],
                        "file_bytes": {v: (onnx_dir(model_dir) / f).stat().st_size for v, f in manifest["files"].items()}}
    log(f"[{family}] ONNX export ready ({result['steps_s']['export_onnx_or_reuse']:.0f} s)")

    t = time.perf_counter()
    codebook = out / "codebook"
    proc = _python(["-m", "prosem_core.cli.main", "calibrate", "--model", family, "--model-dir", model_dir,
                    "--images", str(calib), "--max-images", str(cfg.calib_images), "--runtime", cfg.calib_runtime,
                    "--threads", str(cfg.threads), "--out", str(codebook)], 3600, log)
    result["steps_s"]["calibrate"] = time.perf_counter() - t
    if proc.returncode != 0:
        return dict(result, error=f"calibrate failed: {proc.stderr[-500:]}")
    prov = json.loads(codebook.with_suffix(".json").read_text())["provenance"]
    result["codebook"] = {"images": cfg.calib_images, "runtime": cfg.calib_runtime, "calibration": prov["calibration"],
                          "fit_seconds": prov["fit_seconds"], "note": "fitted on tokens of the RANDOM model"}
    log(f"[{family}] codebook fitted ({result['steps_s']['calibrate']:.0f} s)")

    pipeline = {"model": family, "model_dir": model_dir, "threads": cfg.threads, "codebook": str(codebook),
                "max_new_tokens": cfg.max_new_tokens}
    edge, tokens = {}, {}
    # The default encoder right before and right after this model's edge runs: on a shared machine the
    # load drifts, and the ratio uses the mean of the two.
    before = _default_encoder(cfg, work, frames_npy, f"before_{family}", log)
    for rt in cfg.runtimes:
        tag = rt.replace("-", "_")
        edge[rt] = _worker("edge", {"pipeline": dict(pipeline, runtime=rt), "frames": str(frames_npy),
                                    "tokens_out": str(out / f"tokens_{tag}.npy"), "layers_out": str(out / f"layers_{tag}.npz"),
                                    "codebook": str(codebook)}, out, f"edge_{tag}", cfg, log)
        if "error" not in edge[rt]:
            tokens[rt] = np.load(out / f"tokens_{tag}.npy")
            log(f"[{family}] edge {rt}: {edge[rt]['frame_s_median']:.2f} s/frame, "
                f"peak RSS {edge[rt]['peak_rss_bytes'] / 2**20:.0f} MiB")
    after = _default_encoder(cfg, work, frames_npy, f"after_{family}", log)
    measured = [d["frame_s_median"] for d in (before, after) if "frame_s_median" in d]
    default_s = float(np.mean(measured)) if measured else None
    measured_cpu = [d["frame_cpu_s_median"] for d in (before, after) if "frame_cpu_s_median" in d]
    default_cpu = float(np.mean(measured_cpu)) if measured_cpu else None
    result["default_encoder"] = {"frame_s_median_before": before.get("frame_s_median"),
                                 "frame_s_median_after": after.get("frame_s_median"), "frame_s_reference": default_s,
                                 "frame_cpu_s_reference": default_cpu,
                                 "peak_rss_bytes": before.get("peak_rss_bytes"), "encoder": before.get("encoder"),
                                 "torch_imported": before.get("torch_imported")}
    log(f"[{family}] default encoder {default_s * 1e3 if default_s else float('nan'):.0f} ms/frame (mean of before/after)")
    rows = []
    for rt in cfg.runtimes:
        e = edge[rt]
        if "error" in e:
            rows.append({"runtime": rt, "error": e["error"]})
            continue
        rows.append({"runtime": rt, "frame_s_median": e["frame_s_median"], "frame_s": e["frame_s"],
                     "ratio_to_default_encoder": e["frame_s_median"] / default_s if default_s else None,
                     "frame_cpu_s_median": e["frame_cpu_s_median"],
                     "cpu_ratio_to_default_encoder": e["frame_cpu_s_median"] / default_cpu if default_cpu else None,
                     "token_rel_error_vs_torch": _rel_error(tokens[rt], tokens["torch"]) if "torch" in tokens else None,
                     "peak_rss_bytes": e["peak_rss_bytes"], "torch_imported": e["torch_imported"],
                     "token_shape": e["token_shape"], "load_and_warmup_s": e["load_and_warmup_s"],
                     "codec_encode_s_median": e.get("codec_encode_s_median")})
    result["edge"] = rows

    ref_rt = "onnx" if "onnx" in tokens else next(iter(tokens), None)
    if ref_rt is None:
        return dict(result, error="no edge runtime ran")
    sizes = np.array(edge[ref_rt]["layer_bytes"])  # [frames, layers]
    prefixes = []
    for k in range(1, sizes.shape[1] + 1):
        per_frame = [link_seconds(list(sizes[f, :k]), cfg.link_mbit_s) for f in range(sizes.shape[0])]
        prefixes.append({"prefix": k, "bytes_mean": float(sizes[:, :k].sum(1).mean()),
                         "link_s_mean": float(np.mean(per_frame)),
                         "link_s_over_jpeg": float(np.mean(per_frame) / np.mean(jpeg_link_s))})
    raw_bytes = int(np.prod(edge[ref_rt]["token_shape"]) * 4)
    result["codec"] = {"runtime": ref_rt, "prefixes": prefixes, "raw_float32_bytes": raw_bytes,
                       "raw_link_s": link_seconds([raw_bytes], cfg.link_mbit_s),
                       "bytes_per_prefix_by_runtime": {rt: np.array(edge[rt]["layer_bytes"]).cumsum(1).mean(0).tolist()
                                                       for rt in tokens},
                       "note": "codebook fitted on the RANDOM model's tokens of photos; bytes of a trained model differ"}
    log(f"[{family}] bytes per prefix: {[round(p['bytes_mean']) for p in prefixes]}")

    cloud = _worker("cloud", {"pipeline": dict(pipeline, runtime="onnx"), "layers": str(out / f"layers_{ref_rt.replace('-', '_')}.npz"),
                              "question": cfg.question, "max_new_tokens": cfg.max_new_tokens}, out, "cloud", cfg, log)
    result["cloud"] = cloud
    if "error" not in cloud:
        def med(key: str) -> float | None:
            vals = [a[key] for a in cloud["answers"] if a[key] is not None]
            return float(np.median(vals)) if vals else None

        result["cloud_summary"] = {"time_to_first_token_s": med("time_to_first_token_s"),
                                   "per_token_s": med("per_token_s_median"),
                                   "cpu_to_first_token_s": med("cpu_to_first_token_s"),
                                   "cpu_per_token_s": med("cpu_per_token_s_median"),
                                   "peak_rss_bytes": cloud["peak_rss_bytes"], "load_s": cloud["load_s"]}
        log(f"[{family}] cloud: first token {result['cloud_summary']['time_to_first_token_s']:.2f} s, "
            f"{result['cloud_summary']['per_token_s']:.3f} s/token, peak RSS {cloud['peak_rss_bytes'] / 2**20:.0f} MiB")
    return result


def run(cfg: VlmBenchConfig = VlmBenchConfig(), log=print) -> dict:
    from prosem_core.images import encode_jpeg

    start = time.perf_counter()
    work = Path(cfg.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    frames, names = camera_frames(cfg.frames)
    if len(frames) < cfg.frames:
        raise ValueError(f"only {len(frames)} bundled colour photos for {cfg.frames} frames")
    frames_npy = work / "frames.npy"
    np.save(frames_npy, np.stack(frames))
    calib = calibration_photos(work / "calibration_photos", cfg.calib_images, skip_photos=cfg.frames)
    jpeg_bytes = [len(encode_jpeg(f, cfg.jpeg_quality)) for f in frames]
    jpeg_link_s = [wire_bytes(n + JPEG_FIELDS_BYTES) * 8 / (cfg.link_mbit_s * 1e6) for n in jpeg_bytes]

    models = {}
    for family in cfg.models:
        models[family] = _bench_model(family, cfg, work, frames_npy, calib, jpeg_link_s, log)
    return {"benchmark": "prosem bench vlm", "weights": RANDOM_WEIGHTS_NOTE, "config": asdict(cfg),
            "frames": {"count": len(frames), "size": [480, 640], "photos": names},
            "jpeg": {"quality": cfg.jpeg_quality, "bytes_mean": float(np.mean(jpeg_bytes)),
                     "link_s_mean": float(np.mean(jpeg_link_s))},
            "link_model": {"mbit_s": cfg.link_mbit_s, "datagram_overhead_bytes": DATAGRAM_OVERHEAD_BYTES,
                           "datagram_payload_bytes": DATAGRAM_PAYLOAD_BYTES, "layer_fields_bytes": LAYER_FIELDS_BYTES,
                           "jpeg_fields_bytes": JPEG_FIELDS_BYTES},
            "models": models,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "load_average_at_end": list(os.getloadavg())},
            "run_seconds": time.perf_counter() - start}


def markdown_table(report: dict) -> str:
    """The README table: one row per model and edge runtime, then the codec/link and cloud columns."""
    load = report["machine"]["load_average_at_end"][0]
    lines = [f"All VLM numbers: {RANDOM_WEIGHTS_NOTE}. Shared {report['machine']['cpus']}-core machine "
             f"(load average {load:.0f} at the end): wall times depend on the other jobs, CPU times (process "
             f"CPU seconds, 1 thread) much less. {report['frames']['count']} frames 640x480, "
             f"{report['config']['threads']} thread(s) per model, ratios to the default encoder (EfficientNet-Lite0, ONNX) "
             f"measured around each model's runs; "
             f"JPEG q{report['jpeg']['quality']} {report['jpeg']['bytes_mean'] / 1e3:.1f} kB = {report['jpeg']['link_s_mean']:.3f} s "
             f"at {report['link_model']['mbit_s']:g} Mbit/s.", "",
             "| model (random weights) | edge runtime | s/frame (wall) | x default | CPU s/frame | x default (CPU) "
             "| token error vs torch | edge peak RSS |",
             "|---|---|---|---|---|---|---|---|"]
    for m in report["models"].values():
        d = m.get("default_encoder", {})
        if d.get("frame_s_reference"):
            lines.append(f"| (default encoder) | onnx | {d['frame_s_reference']:.3f} | 1.0x | "
                         f"{d['frame_cpu_s_reference']:.3f} | 1.0x | | {d['peak_rss_bytes'] / 2**20:.0f} MiB |")
        for r in m.get("edge", []):
            if "error" in r:
                lines.append(f"| {m['architecture']} | {r['runtime']} | error: {r['error'][:60]} | | | | | |")
                continue
            ratio = r["ratio_to_default_encoder"]
            lines.append(f"| {m['architecture']} | {r['runtime']} | {r['frame_s_median']:.2f} | {ratio:.0f}x | "
                         f"{r['frame_cpu_s_median']:.2f} | {r['cpu_ratio_to_default_encoder']:.0f}x | "
                         f"{r['token_rel_error_vs_torch']:.4f} | {r['peak_rss_bytes'] / 2**20:.0f} MiB |")
    lines += ["", "| model (random weights) | prefix | bytes | link s @1 Mbit/s | x JPEG q90 link |", "|---|---|---|---|---|"]
    for m in report["models"].values():
        for p in m.get("codec", {}).get("prefixes", []):
            lines.append(f"| {m['architecture']} | {p['prefix']} | {p['bytes_mean']:.0f} | {p['link_s_mean']:.3f} | "
                         f"{p['link_s_over_jpeg']:.2f} |")
    lines += ["", "| model (random weights) | cloud first token s (wall / CPU) | s/token (wall / CPU) | cloud peak RSS |",
              "|---|---|---|---|"]
    for m in report["models"].values():
        c = m.get("cloud_summary")
        if c:
            lines.append(f"| {m['architecture']} | {c['time_to_first_token_s']:.2f} / {c['cpu_to_first_token_s']:.2f} | "
                         f"{c['per_token_s']:.3f} / {c['cpu_per_token_s']:.3f} | {c['peak_rss_bytes'] / 2**20:.0f} MiB |")
    return "\n".join(lines)
