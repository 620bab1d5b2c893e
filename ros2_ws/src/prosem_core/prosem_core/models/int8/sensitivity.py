"""Per-layer sensitivity: quantize one weight layer alone (ONNX Runtime's QDQ, nearest rounding, its
input and output activations quantized with it) and measure what that alone does to the output.

The recipe's float layers for the built-in encoder come from this ranking: the layers whose error
alone is largest are the early, full-resolution ones (see models/export.py).
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnx

from prosem_core.models.int8.graph import session, weight_layers
from prosem_core.models.int8.quantize import ort_quantize, prepare
from prosem_core.models.int8.recipe import Int8Recipe


def relative_errors(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per sample |got - ref| / |ref| (L2 over each sample's output): the token error of the benches."""
    g = got.reshape(len(got), -1).astype(np.float64)
    r = ref.reshape(len(ref), -1).astype(np.float64)
    return np.linalg.norm(g - r, axis=1) / np.maximum(np.linalg.norm(r, axis=1), 1e-12)


def layer_sensitivity(fp32_path: Path, calib: Sequence[dict[str, np.ndarray]], evaluate: Sequence[dict[str, np.ndarray]],
                      recipe: Int8Recipe = Int8Recipe(), layers: list[str] | None = None,
                      score: Callable[[np.ndarray, np.ndarray], dict] | None = None,
                      progress: Callable[[str], None] | None = None) -> list[dict]:
    """For each weight layer (or the named ones): the first output's relative error against the float
    graph on `evaluate` when only that layer is quantized, plus what `score(got, ref)` adds.
    Sorted from the most sensitive."""
    pre = prepare(Path(fp32_path))
    names = [layer.name for layer in weight_layers(pre)] if layers is None else list(layers)
    ref_sess = session(pre, 1)
    out_name = ref_sess.get_outputs()[0].name
    ref = np.concatenate([ref_sess.run([out_name], f)[0] for f in evaluate])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "one.onnx"
        for i, name in enumerate(names):
            ort_quantize(pre, path, calib, recipe, exclude=[], only=[name])
            sess = session(onnx.load(str(path)), 1)
            got = np.concatenate([sess.run([out_name], f)[0] for f in evaluate])
            row = {"layer": name, "rel_error": round(float(relative_errors(got, ref).mean()), 4)}
            if score is not None:
                row.update(score(got, ref))
            rows.append(row)
            os.remove(path)
            if progress:
                progress(f"sensitivity {i + 1}/{len(names)} {name}: {row['rel_error']}")
    return sorted(rows, key=lambda r: -r["rel_error"])
