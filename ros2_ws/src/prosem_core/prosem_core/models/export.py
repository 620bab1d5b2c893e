"""Export the vision encoder to ONNX (fp32) and quantize it to int8 (what an NPU would run).

fp32: torch.onnx export of `extract_features`, dynamic batch. int8: the static recipe of
models/int8 (QDQ: int8 weights per channel, uint8 activations; QDQ graphs are the form NPU delegates
consume), calibrated on crops of the calibration photos (never the benchmark's held-out ones).
The recipe and what it did are written beside the model (`..._int8.json`); an int8 file made by
another recipe is re-made. Writing is atomic (temp file +
rename) so a half-written model is never picked up.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prosem_core.models.int8.recipe import Int8Recipe
from prosem_core.models.paths import atomic_target, onnx_path
from prosem_core.models.preprocess import IMAGE_SIZE, to_input

# The built-in encoder's int8 recipe. Per-layer sensitivity (`prosem bench codec`, int8_edge): quantized
# alone, the four worst layers (stem 0.77 relative token error, block 0 depthwise 0.42, block 1 depthwise
# 0.16 and expand 0.13) are all in blocks 0-1, at 112 px; every later layer costs 0.01-0.07. Keeping
# those two blocks and the stem in float (6 of 49 layers) costs about a tenth of the multiply-adds.
# Recipe steps on 240 held-out photo crops (int8_edge.recipe_steps, 2026-12-06): ONNX Runtime's MinMax
# QDQ alone 0.241 token error, 0.821 top-1 agreement; these 6 in float 0.124 / 0.942; plus
# least-squares rounding 0.086 / 0.950; plus bias correction 0.082 / 0.967. Keeping the head conv in
# float as well changed nothing (0.082 either way); see docs/int8.md.
ENCODER_INT8 = Int8Recipe(fp32_first=6, fp32_last=0, bias_feeds=128)


@dataclass
class ExportConfig:
    opset: int = 17
    calib_crops_per_photo: int = 8  # crops of each calibration photo (models.sample_images.CALIBRATION_PHOTOS)
    # easy-VQA train images: 0, because adding 24 widened activation ranges (photo top-1 agreement 0.967 ->
    # 0.950) without changing easy-VQA answer agreement (0.998 either way), measured 2026-12-06.
    calib_easy_vqa: int = 0
    seed: int = 0


def calibration_images(cfg: ExportConfig) -> list[np.ndarray]:
    """Deterministic calibration set: crops of the calibration photos, plus easy-VQA train images if asked."""
    from prosem_core.codec.calibration_images import photo_variants

    images = photo_variants(cfg.calib_crops_per_photo, seed=cfg.seed)
    if not cfg.calib_easy_vqa:
        return images
    try:
        from prosem_core.models.datasets import easy_vqa_images

        ids, ims = easy_vqa_images("train")
        rng = np.random.default_rng(cfg.seed)
        pick = rng.choice(len(ids), size=min(cfg.calib_easy_vqa, len(ids)), replace=False)
        images += [ims[i] for i in sorted(pick)]
    except ImportError:
        pass
    return images


def export_fp32(path: Path | None = None, cfg: ExportConfig = ExportConfig()) -> Path:
    import torch

    from prosem_core.models.efficientnet import TokenModel, load_efficientnet_lite0

    path = path or onnx_path("fp32")
    model = TokenModel(load_efficientnet_lite0()).eval()
    dummy = torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE)
    tmp = atomic_target(path)
    try:
        torch.onnx.export(
            model, (dummy,), str(tmp), input_names=["pixels"], output_names=["features"],
            dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}}, opset_version=cfg.opset,
            dynamo=False,
        )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def int8_report_path(path: Path) -> Path:
    return path.with_suffix(".json")


def int8_is_current(path: Path, recipe: Int8Recipe = ENCODER_INT8) -> bool:
    """True if `path` exists and was made by this recipe (its report says so)."""
    try:
        report = json.loads(int8_report_path(path).read_text())
    except (OSError, ValueError):
        return False
    return path.is_file() and report.get("recipe") == recipe.as_dict()


def export_int8(fp32_path: Path | None = None, path: Path | None = None, cfg: ExportConfig = ExportConfig(),
                recipe: Int8Recipe = ENCODER_INT8, log=None) -> Path:
    from prosem_core.models.int8.quantize import quantize_static_onnx
    from prosem_core.models.vlm.onnx_files import write_json_atomic

    fp32_path = fp32_path or onnx_path("fp32")
    path = path or onnx_path("int8")
    feeds = [{"pixels": to_input(im)} for im in calibration_images(cfg)]
    report = quantize_static_onnx(fp32_path, path, feeds, recipe, log=log)
    write_json_atomic(int8_report_path(path), report.as_dict())
    return path


def export_all(force: bool = False, cfg: ExportConfig = ExportConfig()) -> dict[str, Path]:
    """Export missing files (all if force): encoder fp32 + int8, MiniLM. Idempotent: existing exports are kept."""
    out = {}
    fp32 = onnx_path("fp32")
    if force or not fp32.is_file():
        export_fp32(fp32, cfg)
    out["fp32"] = fp32
    int8 = onnx_path("int8")
    if force or not int8_is_current(int8):
        export_int8(fp32, int8, cfg)
    out["int8"] = int8
    from prosem_core.models.paths import minilm_onnx_path
    from prosem_core.models.text_embed import export_minilm_onnx

    minilm = minilm_onnx_path()
    if force or not minilm.is_file():
        export_minilm_onnx(minilm)
    out["minilm"] = minilm
    return out


__all__ = ["ENCODER_INT8", "ExportConfig", "export_fp32", "export_int8", "export_all", "int8_is_current"]
