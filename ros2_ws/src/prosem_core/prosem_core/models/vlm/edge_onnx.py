"""A VLM's edge half on ONNX Runtime: image -> tokens [views * T, D] with numpy/PIL preprocessing.

Never imports torch (this is what a robot runs): the geometry comes from the export's manifest, the
image settings from the model directory's processor JSON, the weights from the exported graph.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from prosem_core.models.errors import ModelSetupError
from prosem_core.models.vlm.model_dir import ModelDir
from prosem_core.models.vlm.onnx_files import VARIANTS, onnx_dir, onnx_file, read_manifest, split_name
from prosem_core.models.vlm.preprocess import DEFAULT_SPLIT_FRAME_HW, build_pixel_prep, edge_pixels, split_grid_for


@dataclass(frozen=True)
class OnnxEdgeSpec:
    """What the ONNX edge needs to know about the model and the user's options."""

    mdir: ModelDir
    family: str
    layout: str  # preprocess layout: "idefics3" | "clip"
    runtime: str  # "onnx" | "onnx-int8"
    fingerprint: str  # of the model directory; the export must have been made from it
    threads: int | None = 1
    onnx_dir: str = ""
    resize_mode: str = "processor"
    image_splitting: bool = False
    split_grid: tuple[int, int] | None = None
    projector_on_edge: bool = True


def _export_command(spec: OnnxEdgeSpec, force: bool = False) -> str:
    cmd = f"prosem export-onnx --model {spec.family} --model-dir {spec.mdir.path}"
    if spec.onnx_dir:
        cmd += f" --out {spec.onnx_dir}"
    if spec.family == "llava" and not spec.projector_on_edge:
        cmd += " --projector-on-cloud"
    return cmd + (" --force" if force else "")


class VlmOnnxEncoder:
    def __init__(self, spec: OnnxEdgeSpec):
        if spec.runtime not in VARIANTS:
            raise ValueError(f"ONNX runtime must be one of {sorted(VARIANTS)}, got {spec.runtime!r}")
        self.spec = spec
        self.runtime = spec.runtime
        folder = onnx_dir(spec.mdir.path, spec.onnx_dir or None)
        split = split_name(spec.family, spec.projector_on_edge)
        try:
            manifest = read_manifest(folder, split)
        except ValueError as exc:
            raise ModelSetupError(str(exc), _export_command(spec, force=True)) from exc
        if manifest is None:
            raise ModelSetupError(f"no ONNX export of the {spec.family} edge half ({split}) in {folder}",
                                  _export_command(spec))
        if manifest.get("fingerprint") != spec.fingerprint:
            raise ModelSetupError(
                f"the ONNX export in {folder} was made from another model (fingerprint {manifest.get('fingerprint')}, "
                f"from {manifest.get('model_dir')}) than {spec.mdir.path} (fingerprint {spec.fingerprint})",
                _export_command(spec, force=True))
        self.path = onnx_file(folder, split, VARIANTS[spec.runtime])
        if not self.path.is_file():
            raise ModelSetupError(f"ONNX file {self.path} is missing", _export_command(spec, force=True))
        self.manifest = manifest
        view_hw = tuple(manifest["view_hw"])
        self.prep = build_pixel_prep(spec.mdir.image_processor, spec.layout, int(view_hw[0]), spec.resize_mode)
        self.grid = None
        if spec.image_splitting:
            self.grid = tuple(spec.split_grid) if spec.split_grid else split_grid_for(*DEFAULT_SPLIT_FRAME_HW, self.prep)
        self.views = 1 if self.grid is None else self.grid[0] * self.grid[1] + 1
        t, d = (int(v) for v in manifest["view_token_shape"])
        self.view_token_shape = (t, d)
        self.token_shape = (self.views * t, d)
        opts = ort.SessionOptions()
        if spec.threads:
            opts.intra_op_num_threads = int(spec.threads)
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types; the user needs one message
            raise ModelSetupError(f"ONNX Runtime cannot load {self.path}: {exc}", _export_command(spec, force=True)) from exc
        self.name = f"{spec.family}/{split}/{spec.runtime}"

    def encode(self, rgb_uint8_hwc: np.ndarray) -> np.ndarray:
        """RGB uint8 [H, W, 3] -> float32 [views * T, D] (view after view, the global view last)."""
        pixels = edge_pixels(rgb_uint8_hwc, self.prep, self.grid)
        (tokens,) = self.session.run(None, {"pixel_values": pixels})
        return np.ascontiguousarray(tokens.reshape(self.token_shape), dtype=np.float32)

    def encode_batch(self, images: list[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros((0, *self.token_shape), np.float32)
        return np.stack([self.encode(im) for im in images])


def onnx_file_for(model_dir: str | Path, family: str, runtime: str, projector_on_edge: bool = True,
                  override: str | Path | None = None) -> Path:
    """Path of the ONNX file a runtime would load (for benchmarks and reports)."""
    return onnx_file(onnx_dir(model_dir, override), split_name(family, projector_on_edge), VARIANTS[runtime])
