"""int8 for a VLM's edge half: ONNX Runtime's dynamic quantization against the static recipe.

For a model directory with an fp32 edge export (`prosem export-onnx --model ...`): both int8 graphs
are made from the same fp32 graph, then run on held-out photos (never calibration crops), one view
each, one thread. Reported per method: relative token error against the fp32 ONNX tokens, CPU ms
per view, speed-up over fp32, seconds to make. Static is the only kind an NPU delegate can take (no
run-time activation ranging); dynamic is the fastest on a CPU. With random weights (bench vlm's model
directories) the numbers are costs and error propagation at the real sizes, not answer quality.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass
class VlmInt8BenchConfig:
    model: str
    model_dir: str
    projector_on_edge: bool = True
    calib_images: int = 8
    eval_images: int = 6
    work_dir: str = "build/bench_int8"
    seed: int = 1000


def _views(backend, images: list[np.ndarray]) -> list[np.ndarray]:
    return [backend.pixel_values(im).numpy()[:1] for im in images]


def _run(path: Path, views: list[np.ndarray]) -> tuple[np.ndarray, float]:
    import onnx

    from prosem_core.models.int8.graph import session

    sess = session(onnx.load(str(path)), 1)
    sess.run(None, {"pixel_values": views[0]})  # first run allocates; not timed
    t = time.process_time()
    out = np.concatenate([sess.run(None, {"pixel_values": v})[0] for v in views])
    return out, (time.process_time() - t) / len(views) * 1000


def run(cfg: VlmInt8BenchConfig, log=print) -> dict:
    from prosem_core.codec.calibration_images import held_out_photos
    from prosem_core.models.errors import ModelSetupError
    from prosem_core.models.int8.sensitivity import relative_errors
    from prosem_core.models.vlm import load_backend
    from prosem_core.models.vlm.onnx_export import VLM_INT8, calibration_feeds, quantize_int8
    from prosem_core.models.vlm.onnx_files import onnx_dir, onnx_file, split_name

    split = split_name(cfg.model, cfg.projector_on_edge)
    fp32 = onnx_file(onnx_dir(cfg.model_dir, None), split, "fp32")
    if not fp32.is_file():
        raise ModelSetupError(f"no fp32 edge export at {fp32}",
                              f"run `prosem export-onnx --model {cfg.model} --model-dir {cfg.model_dir}` first")
    backend = load_backend(str(cfg.model_dir), backend=cfg.model, role="edge",
                           llava_projector_on_edge=cfg.projector_on_edge, num_threads=1)
    views = _views(backend, held_out_photos(1, seed=cfg.seed)[: cfg.eval_images])
    feeds = calibration_feeds(backend, cfg.calib_images)
    work = Path(cfg.work_dir) / Path(cfg.model_dir).name
    work.mkdir(parents=True, exist_ok=True)
    log(f"fp32 {fp32}")
    ref, s32 = _run(fp32, views)
    report = {"config": asdict(cfg), "recipe": VLM_INT8.as_dict(), "split": split, "views": len(views),
              "fp32_cpu_ms_per_view": round(s32, 2), "methods": {}}
    for method in ("dynamic", "static"):
        path = work / f"{split}_int8_{method}.onnx"
        log(f"{method}: making {path}")
        t = time.perf_counter()
        described = quantize_int8(fp32, path, method, feeds if method == "static" else None, log=log)
        made = time.perf_counter() - t
        out, sec = _run(path, views)
        err = relative_errors(out, ref)
        report["methods"][method] = {"described": described, "token_rel_error_mean": round(float(err.mean()), 4),
                                     "token_rel_error_max": round(float(err.max()), 4), "cpu_ms_per_view": round(sec, 2),
                                     "speedup_over_fp32": round(s32 / sec, 3), "seconds_to_make": round(made, 1)}
        log(f"{method}: {report['methods'][method]}")
    return with_table(report)


def with_table(report: dict) -> dict:
    """Add the README's view of a report: a row per graph and a summary."""
    rows = [{"method": "fp32", "token_rel_error_mean": 0.0, "cpu_ms_per_view": report["fp32_cpu_ms_per_view"],
             "speedup_over_fp32": 1.0}]
    rows += [{"method": f"int8 {name}", "token_rel_error_mean": m["token_rel_error_mean"],
              "cpu_ms_per_view": m["cpu_ms_per_view"], "speedup_over_fp32": m["speedup_over_fp32"],
              "seconds_to_make": m["seconds_to_make"]} for name, m in report["methods"].items()]
    report["rows"] = rows
    report["summary"] = {f"{name}_{key}": m[key] for name, m in report["methods"].items()
                         for key in ("token_rel_error_mean", "speedup_over_fp32")}
    return report
