"""The int8 edge encoder against fp32 on natural photos: does the robot's NPU path keep the answers?

The i.MX95's NPU runs int8, so the int8 ONNX export (`prosem export-onnx`: the static recipe of
models/int8, see models/export.py ENCODER_INT8) is what an accelerated robot would run. Measured on
the bench's held-out photo crops, both encoders with one thread: the relative token error against the
fp32 tokens, the ImageNet top-1 agreement of the answers built on them, and the CPU time per frame of
each (int8 over fp32 as a speed-up). The targets (token error <= 0.05, top-1 agreement >= 0.95,
>= 1.3x faster) are checked and the gap is stated in words when they are missed.

With `study`, two more measurements: each weight layer quantized alone (ONNX Runtime's QDQ, nearest
rounding) and ranked by the token error that alone causes, the measurement behind the recipe's float
layers; and the recipe built up step by step (ONNX Runtime alone, + float layers, + least-squares
rounding, + bias correction), each step measured on the same photos.
"""
from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from prosem_core.models.int8.sensitivity import relative_errors

TARGET_ERROR, TARGET_AGREEMENT, TARGET_SPEEDUP = 0.05, 0.95, 1.3


def recipe_report() -> dict | None:
    """What the shipped int8 file says of itself (recipe, float layers, seconds), if it says."""
    from prosem_core.models.export import int8_report_path
    from prosem_core.models.paths import onnx_path

    try:
        rep = json.loads(int8_report_path(onnx_path("int8")).read_text())
    except (OSError, ValueError):
        return None
    return {"recipe": rep.get("recipe"), "kept_float": rep.get("kept_float"), "quantized_layers": len(rep.get("quantized", [])),
            "calibration_feeds": rep.get("calibration_feeds"), "seconds": rep.get("seconds")}


def sensitivity(photos: list[np.ndarray], top1: Callable[[np.ndarray], np.ndarray], calib_images: int = 32,
                eval_images: int = 48, progress: Callable[[str], None] | None = None) -> list[dict]:
    """Per-layer sensitivity of the fp32 encoder on `eval_images` of the photos (features_to_tokens
    layout for top1)."""
    from prosem_core.codec.calibration_images import calibration_crops
    from prosem_core.models.encoder import features_to_tokens
    from prosem_core.models.int8.sensitivity import layer_sensitivity
    from prosem_core.models.paths import onnx_path
    from prosem_core.models.preprocess import to_input

    calib = [{"pixels": to_input(im)} for im in calibration_crops(calib_images)]
    evaluate = [{"pixels": to_input(im)} for im in photos[:eval_images]]

    def score(got, ref):
        return {"top1_agreement": round(float(np.mean(top1(features_to_tokens(got)) == top1(features_to_tokens(ref)))), 4)}

    return layer_sensitivity(onnx_path("fp32"), calib, evaluate, score=score, progress=progress)


def recipe_steps(photos: list[np.ndarray], fp32_tokens: np.ndarray, top1: Callable[[np.ndarray], np.ndarray],
                 shipped_tokens: np.ndarray | None = None) -> list[dict]:
    """The shipped recipe built up one step at a time, each graph measured on the photos. The last step
    is the shipped graph itself: pass its tokens (`shipped_tokens`) when the file is the recipe's."""
    import dataclasses
    import tempfile
    from pathlib import Path

    from prosem_core.models.encoder_onnx import OnnxEncoder
    from prosem_core.models.export import ENCODER_INT8, ExportConfig, calibration_images
    from prosem_core.models.int8.quantize import quantize_static_onnx
    from prosem_core.models.paths import onnx_path
    from prosem_core.models.preprocess import to_input

    feeds = [{"pixels": to_input(im)} for im in calibration_images(ExportConfig())]
    r = ENCODER_INT8
    steps = [("ONNX Runtime MinMax QDQ alone", dataclasses.replace(r, fp32_first=0, rounding="nearest", bias_correction=False)),
             (f"+ first {r.fp32_first} layers in float", dataclasses.replace(r, rounding="nearest", bias_correction=False)),
             ("+ least-squares rounding", dataclasses.replace(r, bias_correction=False)),
             ("+ bias correction (shipped)", r)]
    ref = top1(fp32_tokens)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, recipe in steps:
            if recipe == r and shipped_tokens is not None:
                tokens = shipped_tokens
            else:
                path = Path(tmp) / "step.onnx"
                quantize_static_onnx(onnx_path("fp32"), path, feeds, recipe)
                tokens = OnnxEncoder("int8", threads=1, path=path).encode_batch(photos).astype(np.float32)
            rows.append({"step": name, "token_rel_error_mean": round(float(relative_errors(tokens, fp32_tokens).mean()), 4),
                         "top1_agreement_with_fp32": round(float(np.mean(top1(tokens) == ref)), 4)})
    return rows


def int8_edge(photos: list[np.ndarray], fp32_tokens: np.ndarray, top1: Callable[[np.ndarray], np.ndarray],
              fp32_encoder, timing_frames: int = 24, study: bool = False) -> dict:
    """`top1(tokens[N, T, D]) -> labels[N]`; fp32_tokens are fp32_encoder's tokens of the photos."""
    from prosem_core.bench.codec import _cpu_ms
    from prosem_core.models.encoder import build_encoder

    int8 = build_encoder("onnx-int8")
    tokens8 = int8.encode_batch(photos).astype(np.float32)
    err = relative_errors(tokens8, fp32_tokens)
    agreement = float(np.mean(top1(tokens8) == top1(fp32_tokens)))
    sample = photos[:timing_frames]
    _, ms32 = _cpu_ms(fp32_encoder.encode, sample)
    _, ms8 = _cpu_ms(int8.encode, sample)
    out = {"photos": len(photos), "token_rel_error_mean": round(float(err.mean()), 4),
           "token_rel_error_p90": round(float(np.percentile(err, 90)), 4), "top1_agreement_with_fp32": round(agreement, 4),
           "fp32_cpu_ms_per_frame": round(ms32, 2), "int8_cpu_ms_per_frame": round(ms8, 2),
           "speedup_over_fp32": round(ms32 / ms8, 3) if ms8 > 0 else None, "int8_file": recipe_report()}
    missed = []
    if out["token_rel_error_mean"] > TARGET_ERROR:
        missed.append(f"token error {out['token_rel_error_mean']:.3f} (target <= {TARGET_ERROR})")
    if agreement < TARGET_AGREEMENT:
        missed.append(f"top-1 agreement {agreement:.3f} (target >= {TARGET_AGREEMENT})")
    if out["speedup_over_fp32"] is None or out["speedup_over_fp32"] < TARGET_SPEEDUP:
        missed.append(f"speed-up {out['speedup_over_fp32']}x (target >= {TARGET_SPEEDUP}x)")
    out["target_met"] = not missed
    out["gap"] = "; ".join(missed) if missed else "none"
    if study:
        from prosem_core.models.export import int8_is_current
        from prosem_core.models.paths import onnx_path

        shipped = tokens8 if int8_is_current(onnx_path("int8")) else None
        out["recipe_steps"] = recipe_steps(photos, fp32_tokens, top1, shipped)
        out["sensitivity"] = sensitivity(photos, top1)
    return out
