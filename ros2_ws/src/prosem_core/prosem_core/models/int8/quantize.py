"""`quantize_static_onnx`: the int8 recipe on any ONNX graph with Conv / MatMul / Gemm weights.

1. ONNX Runtime's static quantizer writes a QDQ graph: int8 weights per output channel, uint8
   activations with MinMax ranges from the calibration feeds, the recipe's float layers excluded.
2. Least-squares rounding (`rounding`): every quantized weight row is re-rounded against the second
   moments of its float inputs on the calibration feeds.
3. Bias correction, layer after layer in graph order: the mean output error a layer still has in the
   quantized graph (upstream layers already corrected) is cancelled through its bias.
The file is written atomically; the report says what was done to each layer.
"""
from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from prosem_core.models.int8.graph import QdqGraph, WeightLayer, rows_to_weight, session, weight_layers, weight_rows, with_outputs
from prosem_core.models.int8.moments import Moments, layer_patches, supported
from prosem_core.models.int8.recipe import Int8Recipe
from prosem_core.models.int8.rounding import least_squares_rounding, output_error
from prosem_core.models.paths import atomic_target

Feeds = Sequence[dict[str, np.ndarray]]


@dataclass
class Int8Report:
    recipe: dict
    quantized: list[str] = field(default_factory=list)
    kept_float: list[str] = field(default_factory=list)
    rounding: dict[str, dict] = field(default_factory=dict)  # layer -> flips, output error before / after
    bias_corrected: list[str] = field(default_factory=list)
    calibration_feeds: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


class _Reader:
    """onnxruntime CalibrationDataReader over prepared feeds."""

    def __init__(self, feeds: Feeds):
        self._it = iter(list(feeds))

    def get_next(self):
        return next(self._it, None)


def float_layer_names(layers: list[WeightLayer], recipe: Int8Recipe) -> list[str]:
    names = [layer.name for layer in layers]
    keep = set(names[: recipe.fp32_first]) | set(names[max(0, len(names) - recipe.fp32_last):] if recipe.fp32_last else [])
    unknown = [n for n in recipe.fp32_layers if n not in names]
    if unknown:
        raise ValueError(f"fp32_layers names no weight layer of this graph: {unknown}")
    keep |= set(recipe.fp32_layers)
    return [n for n in names if n in keep]


def _run_batches(sess, names: list[str], feeds: Feeds):
    for feed in feeds:
        yield sess.run(names, feed)


def ort_quantize(pre: onnx.ModelProto, out: Path, feeds: Feeds, recipe: Int8Recipe, exclude: list[str],
                 only: list[str] | None = None) -> None:
    """Step 1: ONNX Runtime's QDQ quantizer, MinMax calibration, per-channel int8 weights."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "pre.onnx")
        onnx.save(pre, src)
        act = QuantType.QUInt8 if recipe.activations == "uint8" else QuantType.QInt8
        logging.disable(logging.WARNING)  # its per-model advice is about what this recipe already chose
        try:
            quantize_static(src, str(out), _Reader(feeds), quant_format=QuantFormat.QDQ, activation_type=act,
                            weight_type=QuantType.QInt8, per_channel=True, calibrate_method=CalibrationMethod.MinMax,
                            nodes_to_exclude=exclude, nodes_to_quantize=only,
                            op_types_to_quantize=list(recipe.op_types) if recipe.op_types else None,
                            extra_options={"WeightSymmetric": True})
        finally:
            logging.disable(logging.NOTSET)


def reround(pre: onnx.ModelProto, q: QdqGraph, layers: list[WeightLayer], feeds: Feeds, report: Int8Report,
            threads: int | None) -> None:
    """Step 2: least-squares rounding of every quantized, supported layer, on float inputs."""
    inits = {i.name: i for i in pre.graph.initializer}
    todo = []
    for layer in layers:
        codes = q.weight_codes(layer)
        w = numpy_helper.to_array(inits[layer.weight])
        if codes is not None and supported(layer, w.shape):
            todo.append((layer, w, codes))
    if not todo:
        return
    inputs = list(dict.fromkeys(layer.input for layer, _, _ in todo))
    sess = session(with_outputs(pre, inputs), threads)
    moments = {layer.name: Moments() for layer, _, _ in todo}
    for outs in _run_batches(sess, inputs, feeds):
        by_name = dict(zip(inputs, outs))
        for layer, w, _ in todo:
            moments[layer.name].add(layer_patches(by_name[layer.input], layer, w.shape))
    for layer, w, (codes, scale, init_name) in todo:
        c = moments[layer.name].mean()
        rows = weight_rows(layer, w.astype(np.float64))
        old = weight_rows(layer, codes.astype(np.int64)).astype(np.float64)
        new = least_squares_rounding(rows, scale, c)
        s = scale.reshape(-1, 1)
        before, after = output_error(old * s - rows, c).sum(), output_error(new * s - rows, c).sum()
        q.replace(init_name, rows_to_weight(layer, new, codes.shape).astype(np.int8))
        report.rounding[layer.name] = {"flips": int((new != old).sum()), "weights": int(new.size),
                                       "output_mse_nearest": float(before), "output_mse": float(after)}


def _spatial_mean(x: np.ndarray, layer: WeightLayer) -> np.ndarray:
    """Mean over everything but the output-channel axis (axis 1 for Conv, the last for MatMul/Gemm)."""
    if layer.op == "Conv":
        return x.mean(axis=tuple(i for i in range(x.ndim) if i != 1))
    return x.reshape(-1, x.shape[-1]).mean(axis=0)


def correct_bias(pre: onnx.ModelProto, q: QdqGraph, layers: list[WeightLayer], feeds: Feeds, report: Int8Report,
                 threads: int | None) -> None:
    """Step 3: per layer in graph order, bias -= E[quantized output - float output]."""
    todo = [layer for layer in layers if q.is_quantized(layer)
            and (q.bias(layer) is not None or q.float_bias_after(layer) is not None)]
    if not todo:
        return
    outputs = [layer.output for layer in todo]
    ref_sess = session(with_outputs(pre, outputs), threads)
    ref = {name: 0.0 for name in outputs}
    for outs in _run_batches(ref_sess, outputs, feeds):
        for name, o, layer in zip(outputs, outs, todo):
            ref[name] = ref[name] + _spatial_mean(o, layer) / len(feeds)
    for layer in todo:  # the quantized graph changes after every layer, so one session each
        out = q.output_of(layer)
        sess = session(with_outputs(q.model, [out]), threads)
        got = sum(_spatial_mean(o[0], layer) for o in _run_batches(sess, [out], feeds)) / len(feeds)
        err = got - ref[layer.output]
        b = q.bias(layer)
        if b is not None:
            codes, scale, name = b
            q.replace(name, (codes.astype(np.int64) - np.round(err / scale)).clip(-2**31, 2**31 - 1).astype(np.int32))
        else:
            name = q.float_bias_after(layer)
            const = numpy_helper.to_array(q.inits[name])
            if const.size != err.size:
                continue
            q.replace(name, (const - err.reshape(const.shape)).astype(const.dtype))
        report.bias_corrected.append(layer.name)


def prepare(fp32_path: Path) -> onnx.ModelProto:
    """ONNX Runtime's pre-processing (constant folding, shape inference) that static quantization wants."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "pre.onnx")
        logging.disable(logging.WARNING)
        try:
            quant_pre_process(str(fp32_path), out, skip_symbolic_shape=True)
        finally:
            logging.disable(logging.NOTSET)
        return onnx.load(out)


def quantize_static_onnx(fp32_path: Path, out_path: Path, feeds: Feeds, recipe: Int8Recipe = Int8Recipe(), *,
                         threads: int | None = None, log: Callable[[str], None] | None = None) -> Int8Report:
    """Write the int8 QDQ graph of `fp32_path` to `out_path` by the recipe; feeds are the calibration
    inputs (dicts of input name -> array, one batch each)."""
    if not feeds:
        raise ValueError("static quantization needs at least one calibration input")
    say = log or (lambda _msg: None)
    report = Int8Report(recipe.as_dict(), calibration_feeds=len(feeds))
    t0 = time.perf_counter()
    pre = prepare(Path(fp32_path))
    layers = weight_layers(pre)
    kept = float_layer_names(layers, recipe)
    out_path = Path(out_path)
    tmp = atomic_target(out_path)
    try:
        say(f"int8: calibrating {len(feeds)} inputs, {len(layers) - len(kept)} of {len(layers)} weight layers quantized")
        ort_quantize(pre, tmp, feeds, recipe, kept)
        report.seconds["calibrate"] = round(time.perf_counter() - t0, 2)
        q = QdqGraph(onnx.load(str(tmp)))
        report.kept_float = kept
        report.quantized = [layer.name for layer in layers if q.is_quantized(layer)]
        if recipe.rounding == "least-squares":
            t = time.perf_counter()
            say("int8: least-squares rounding")
            reround(pre, q, layers, feeds, report, threads)
            report.seconds["rounding"] = round(time.perf_counter() - t, 2)
        if recipe.bias_correction:
            t = time.perf_counter()
            say(f"int8: bias correction on {min(recipe.bias_feeds, len(feeds))} inputs")
            correct_bias(pre, q, layers, list(feeds)[: recipe.bias_feeds], report, threads)
            report.seconds["bias"] = round(time.perf_counter() - t, 2)
        onnx.save(q.model, str(tmp))
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    report.seconds["total"] = round(time.perf_counter() - t0, 2)
    return report
