"""Export the vision encoder to ONNX (fp32) and quantize it to int8 (what an NPU would run).

fp32: torch.onnx export of `extract_features`, dynamic batch. int8: onnxruntime static
quantization in QDQ format (int8 weights per channel, int8 activations), calibrated on a few
bundled photos (scikit-image) and easy-VQA images: QDQ graphs are the form NPU delegates consume.
Writing is atomic (temp file + rename) so a half-written model is never picked up.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prosem_core.models.paths import onnx_path
from prosem_core.models.preprocess import IMAGE_SIZE, to_input


@dataclass
class ExportConfig:
    opset: int = 17
    calib_photos: int = 12  # scikit-image colour photos
    calib_easy_vqa: int = 24  # easy-VQA train images
    seed: int = 0


def calibration_images(cfg: ExportConfig) -> list[np.ndarray]:
    """Deterministic calibration set: bundled photos plus easy-VQA train images."""
    from prosem_core.models.sample_images import bundled_photos

    images = [im for _, im in bundled_photos()][: cfg.calib_photos]
    try:
        from prosem_core.models.datasets import easy_vqa_images

        ids, ims = easy_vqa_images("train")
        rng = np.random.default_rng(cfg.seed)
        pick = rng.choice(len(ids), size=min(cfg.calib_easy_vqa, len(ids)), replace=False)
        images += [ims[i] for i in sorted(pick)]
    except ImportError:
        pass
    return images


def _atomic_target(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; other users/containers read these models
    return Path(tmp)


def export_fp32(path: Path | None = None, cfg: ExportConfig = ExportConfig()) -> Path:
    import torch

    from prosem_core.models.efficientnet import TokenModel, load_efficientnet_lite0

    path = path or onnx_path("fp32")
    model = TokenModel(load_efficientnet_lite0()).eval()
    dummy = torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE)
    tmp = _atomic_target(path)
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


class _CalibReader:
    """onnxruntime CalibrationDataReader over preprocessed images, one per call."""

    def __init__(self, images: list[np.ndarray], input_name: str):
        self._items = iter([{input_name: to_input(im)} for im in images])

    def get_next(self):
        return next(self._items, None)


def export_int8(fp32_path: Path | None = None, path: Path | None = None, cfg: ExportConfig = ExportConfig()) -> Path:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32_path = fp32_path or onnx_path("fp32")
    path = path or onnx_path("int8")
    pre = _atomic_target(path)
    tmp = _atomic_target(path)
    try:
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre), str(tmp), _CalibReader(calibration_images(cfg), "pixels"),
            quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            per_channel=True, calibrate_method=CalibrationMethod.MinMax,
        )
        os.replace(tmp, path)
    finally:
        pre.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return path


def export_all(force: bool = False, cfg: ExportConfig = ExportConfig()) -> dict[str, Path]:
    """Export missing files (all if force): encoder fp32 + int8, MiniLM. Idempotent: existing exports are kept."""
    out = {}
    fp32 = onnx_path("fp32")
    if force or not fp32.is_file():
        export_fp32(fp32, cfg)
    out["fp32"] = fp32
    int8 = onnx_path("int8")
    if force or not int8.is_file():
        export_int8(fp32, int8, cfg)
    out["int8"] = int8
    from prosem_core.models.paths import minilm_onnx_path
    from prosem_core.models.text_embed import export_minilm_onnx

    minilm = minilm_onnx_path()
    if force or not minilm.is_file():
        export_minilm_onnx(minilm)
    out["minilm"] = minilm
    return out


__all__ = ["ExportConfig", "export_fp32", "export_int8", "export_all"]
