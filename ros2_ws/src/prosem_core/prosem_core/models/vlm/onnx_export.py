"""Export a VLM's edge half (vision tower + connector / projector) to ONNX, fp32 and int8.

TorchScript exporter, opset 17, on the family's `edge_module()`: a graph over full views with the
position table added whole, so ONNX Runtime accepts it (the model's own SigLIP position lookup exports
as a Gather ONNX Runtime rejects with INVALID_GRAPH). int8 (`quantize_int8`), one of:
  dynamic  ONNX Runtime dynamic quantization of the MatMul/Gemm weights: fastest on a CPU;
  static   the static recipe of models/int8 (QDQ, calibrated activation ranges, least-squares
           rounding): what an NPU delegate needs, since an NPU cannot range activations at run time.
Both files are checked against torch on sample photos and the token errors go into the manifest.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from prosem_core.models.errors import ModelSetupError
from prosem_core.models.int8.recipe import Int8Recipe
from prosem_core.models.paths import atomic_target
from prosem_core.models.vlm.onnx_files import (
    MANIFEST_VERSION,
    manifest_path,
    onnx_dir,
    onnx_file,
    split_name,
    write_json_atomic,
)

OPSET = 17


@dataclass
class ExportReport:
    folder: Path
    split: str
    files: dict[str, Path]
    token_error: dict[str, dict[str, float]]
    fingerprint: str
    seconds: float
    manifest: dict = field(default_factory=dict)


class _WholeTable(torch.nn.Module):
    """Stands in for a position nn.Embedding that is always looked up with ids 0..N-1: the whole table."""

    def __init__(self, table: torch.nn.Embedding):
        super().__init__()
        self.table = table

    def forward(self, position_ids: torch.Tensor) -> torch.Tensor:
        return self.table.weight.unsqueeze(0)


@contextlib.contextmanager
def _full_tile_positions(module: torch.nn.Module):
    """Temporarily replace every CLIP/SigLIP-style position lookup (embedding(position_ids) with the
    buffer position_ids = arange) by the whole table: same numbers, no Gather in the graph."""
    swapped = []
    for sub in module.modules():
        emb, ids = getattr(sub, "position_embedding", None), getattr(sub, "position_ids", None)
        if isinstance(emb, torch.nn.Embedding) and isinstance(ids, torch.Tensor) and torch.equal(
                ids.reshape(-1), torch.arange(emb.num_embeddings, device=ids.device)):
            sub._modules["position_embedding"] = _WholeTable(emb)
            swapped.append((sub, emb))
    try:
        yield
    finally:
        for sub, emb in swapped:
            sub._modules["position_embedding"] = emb


def export_fp32(module: torch.nn.Module, example: torch.Tensor, path: Path, opset: int = OPSET) -> Path:
    tmp = atomic_target(path)
    try:
        with torch.inference_mode(False), torch.no_grad(), _full_tile_positions(module), warnings.catch_warnings():
            # The tracer warns about shapes it records as constants: view size and patch grid are fixed
            # per model here; the views axis stays dynamic and the result is checked against torch.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            # The TorchScript exporter is chosen on purpose (see the module docstring); torch says it is legacy.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(module, (example,), str(tmp), input_names=["pixel_values"], output_names=["tokens"],
                              dynamic_axes={"pixel_values": {0: "views"}, "tokens": {0: "views"}},
                              opset_version=opset, dynamo=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


INT8_METHODS = ("dynamic", "static")
# Static recipe for VLM edge halves: weight and attention MatMuls, Gemm and the patch-embedding Conv in
# QDQ; no bias correction (it runs the graph once per layer: minutes on a 90 M-parameter tower).
# Measured on SmolVLM-256M's vision tower + connector with random weights, 8 calibration photos, 6
# held-out photos, one thread (`prosem bench int8`, 2026-12-06): dynamic 0.037 token error vs fp32
# ONNX at 2.21x the fp32 speed, this recipe 0.040 at 1.74x (docs/int8.md).
VLM_INT8 = Int8Recipe(op_types=("MatMul", "Gemm", "Conv"), bias_correction=False)
VLM_CALIBRATION_IMAGES = 8


def calibration_feeds(backend, count: int = VLM_CALIBRATION_IMAGES) -> list[dict[str, np.ndarray]]:
    """Crops of the calibration photos (never the benchmarks' held-out ones), one view each."""
    from prosem_core.codec.calibration_images import calibration_crops

    images = calibration_crops(count, seed=0)
    return [{"pixel_values": backend.pixel_values(im).numpy()[:1]} for im in images]


def quantize_int8(fp32_path: Path, out_path: Path, method: str = "dynamic", feeds=None, log=print) -> str:
    """Write the int8 edge graph; returns the method's description for the manifest.

    dynamic: int8 weights of MatMul/Gemm, activations quantized at run time (convolutions stay fp32);
    measured on SmolVLM-256M's shape about 2.7x faster than torch at about 4 % token error.
    static: `VLM_INT8` on the calibration feeds."""
    if method not in INT8_METHODS:
        raise ValueError(f"int8 method must be one of {INT8_METHODS}, not {method!r}")
    if method == "static":
        from prosem_core.models.int8.quantize import quantize_static_onnx

        if not feeds:
            raise ValueError("static int8 needs calibration feeds")
        report = quantize_static_onnx(fp32_path, out_path, feeds, VLM_INT8, log=log)
        return (f"static QDQ (models/int8 recipe v{report.recipe['version']}: {len(report.quantized)} weight layers, "
                f"{report.recipe['rounding']} rounding, {report.calibration_feeds} calibration photos)")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = atomic_target(out_path)
    logging.disable(logging.WARNING)  # its advice to run shape pre-processing concerns static quantization
    try:
        quantize_dynamic(str(fp32_path), str(tmp), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
        os.replace(tmp, out_path)
    finally:
        logging.disable(logging.NOTSET)
        tmp.unlink(missing_ok=True)
    return "onnxruntime dynamic (MatMul/Gemm weights)"


def token_error(got: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    diff = got.astype(np.float64) - ref.astype(np.float64)
    return {"rel_error": float(np.linalg.norm(diff) / max(np.linalg.norm(ref), 1e-30)),
            "max_abs_error": float(np.abs(diff).max())}


def _ort_run(path: Path, pixels: np.ndarray, threads: int | None) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    try:
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelSetupError(f"ONNX Runtime rejects the exported graph {path}: {exc}",
                              "report this model; the export needs a fix for its architecture") from exc
    return np.concatenate([sess.run(None, {"pixel_values": pixels[i:i + 1]})[0] for i in range(len(pixels))])


def sample_images(count: int = 3) -> list[np.ndarray]:
    from prosem_core.models.sample_images import bundled_photos

    return [im for _, im in bundled_photos()][:count]


def export_edge(model_dir: str | Path, family: str, out_dir: str | Path | None = None, *,
                projector_on_edge: bool = True, images: list[np.ndarray] | None = None, threads: int | None = None,
                int8: str = "dynamic", log=print) -> ExportReport:
    """Export the edge half of the model in `model_dir` to `out_dir` (default MODEL_DIR/prosem_onnx)."""
    from prosem_core.models.registry import get_family
    from prosem_core.models.vlm import load_backend

    start = time.perf_counter()
    fam = get_family(family)
    fingerprint = fam.fingerprint_of(model_dir)
    backend = load_backend(str(model_dir), backend=family, role="edge", llava_projector_on_edge=projector_on_edge,
                           num_threads=threads)
    folder = onnx_dir(model_dir, out_dir)
    split = split_name(family, projector_on_edge)
    images = images if images is not None else sample_images()
    pixels = np.concatenate([backend.pixel_values(im).numpy() for im in images])  # [N, 3, S, S], one view each
    with torch.inference_mode():
        ref = np.concatenate([backend.edge_tokens(im)[None] for im in images])  # the model's own pixel path
    module = backend.edge_module()
    fp32 = onnx_file(folder, split, "fp32")
    log(f"exporting {family} edge half ({split}) -> {fp32}")
    export_fp32(module, torch.from_numpy(pixels[:1]), fp32)
    int8_path = onnx_file(folder, split, "int8")
    log(f"quantizing ({int8}) -> {int8_path}")
    feeds = calibration_feeds(backend) if int8 == "static" else None
    int8_method = quantize_int8(fp32, int8_path, int8, feeds, log=log)
    errors = {}
    for variant, path in (("fp32", fp32), ("int8", int8_path)):
        got = _ort_run(path, pixels, threads)
        if got.shape != ref.shape:
            raise ModelSetupError(f"exported graph gives tokens {got.shape[1:]} per view, torch {ref.shape[1:]}",
                                  "report this model; the export needs a fix for its architecture")
        errors[variant] = token_error(got, ref)
        log(f"  {variant}: token error vs torch {errors[variant]['rel_error']:.4f} (relative), "
            f"{path.stat().st_size / 1e6:.1f} MB")
    manifest = {
        "version": MANIFEST_VERSION, "family": family, "fingerprint": fingerprint, "split": split,
        "projector_on_edge": bool(projector_on_edge), "model_dir": str(Path(model_dir).expanduser().resolve()),
        "view_hw": list(pixels.shape[2:]), "view_token_shape": list(ref.shape[1:]),
        "files": {"fp32": fp32.name, "int8": int8_path.name}, "int8": int8, "int8_method": int8_method,
        "opset": OPSET, "exporter": f"torch.onnx TorchScript {torch.__version__}",
        "token_error_vs_torch": errors, "token_error_images": len(images),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json_atomic(manifest_path(folder, split), manifest)
    return ExportReport(folder, split, {"fp32": fp32, "int8": int8_path}, errors, fingerprint,
                        time.perf_counter() - start, manifest)
