"""The ONNX graph facts the int8 recipe needs: weight layers in order, their int8 codes and int32
biases in a QDQ graph, and sessions that also return inner tensors."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

WEIGHT_OPS = ("Conv", "MatMul", "Gemm")


@dataclass(frozen=True)
class WeightLayer:
    """A Conv, MatMul or Gemm whose weight is a constant: what per-channel int8 weights apply to."""

    name: str
    op: str
    input: str  # the activation it multiplies
    output: str
    weight: str  # initializer name in the float graph
    attrs: dict


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def weight_layers(model: onnx.ModelProto) -> list[WeightLayer]:
    """Weight layers in graph order (ONNX graphs are stored topologically sorted)."""
    inits = {i.name: i for i in model.graph.initializer}
    out = []
    for n in model.graph.node:
        if n.op_type in WEIGHT_OPS and len(n.input) > 1 and n.input[1] in inits and n.input[0] not in inits:
            attrs = _attrs(n)
            if n.op_type == "Gemm" and attrs.get("transA", 0):
                continue  # an input read transposed: rows are not samples; leave it to ONNX Runtime
            if n.op_type != "Conv" and len(inits[n.input[1]].dims) != 2:
                continue  # a batched constant weight: no single output-channel axis
            out.append(WeightLayer(n.name, n.op_type, n.input[0], n.output[0], n.input[1], attrs))
    return out


def weight_rows(layer: WeightLayer, w: np.ndarray) -> np.ndarray:
    """The weight as [output channels, inputs per output], the layout per-channel scales index.
    Conv [O, I/g, kh, kw] -> [O, I/g*kh*kw]; MatMul [K, N] -> [N, K]; Gemm follows transB."""
    if layer.op == "Conv":
        return w.reshape(w.shape[0], -1)
    if layer.op == "Gemm" and layer.attrs.get("transB", 0):
        return w
    return w.T


def rows_to_weight(layer: WeightLayer, rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if layer.op == "Conv" or (layer.op == "Gemm" and layer.attrs.get("transB", 0)):
        return rows.reshape(shape)
    return rows.T.reshape(shape)


def output_axis(layer: WeightLayer) -> int:
    """The weight axis that indexes output channels (the axis per-channel scales run along)."""
    if layer.op == "Conv" or (layer.op == "Gemm" and layer.attrs.get("transB", 0)):
        return 0
    return 1


def is_depthwise(layer: WeightLayer, w_shape: tuple[int, ...]) -> bool:
    return layer.op == "Conv" and layer.attrs.get("group", 1) > 1 and w_shape[1] == 1 and layer.attrs["group"] == w_shape[0]


class QdqGraph:
    """A QDQ graph written by ONNX Runtime's quantizer: find, read and rewrite the int8 weight codes
    and int32 bias of a quantized layer (None where the layer was left in float)."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.producer = {o: n for n in model.graph.node for o in n.output}
        self.inits = {i.name: i for i in model.graph.initializer}
        self.nodes = {n.name: n for n in model.graph.node}

    def _dq_inputs(self, tensor: str):
        dq = self.producer.get(tensor)
        if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] not in self.inits:
            return None
        return dq

    def is_quantized(self, layer: WeightLayer) -> bool:
        """The quantizer put the layer's weight behind a DequantizeLinear (whatever its type)."""
        node = self.nodes.get(layer.name)
        return node is not None and self._dq_inputs(node.input[1]) is not None

    def weight_codes(self, layer: WeightLayer) -> tuple[np.ndarray, np.ndarray, str] | None:
        """(int codes as stored, per-channel scales, initializer name) of a layer whose symmetric int8
        weights can be re-rounded; None if in float or stored another way."""
        node = self.nodes.get(layer.name)
        dq = self._dq_inputs(node.input[1]) if node is not None else None
        if dq is None:
            return None
        codes = numpy_helper.to_array(self.inits[dq.input[0]])
        scale = numpy_helper.to_array(self.inits[dq.input[1]]).astype(np.float64)
        if codes.dtype != np.int8:
            return None  # only symmetric int8 weights are re-rounded
        axis = next((a.i for a in dq.attribute if a.name == "axis"), 1)
        if scale.size > 1 and axis % codes.ndim != output_axis(layer):
            return None  # scales along another axis than the output channels: leave its rounding alone
        if len(dq.input) > 2 and np.any(numpy_helper.to_array(self.inits[dq.input[2]]) != 0):
            return None
        return codes, scale, dq.input[0]

    def bias(self, layer: WeightLayer) -> tuple[np.ndarray, np.ndarray, str] | None:
        """(int32 bias, its scale, initializer name) of a quantized Conv/Gemm, else None."""
        node = self.nodes.get(layer.name)
        if node is None or len(node.input) < 3 or not node.input[2]:
            return None
        dq = self._dq_inputs(node.input[2])
        if dq is None:
            return None
        codes = numpy_helper.to_array(self.inits[dq.input[0]])
        if codes.dtype != np.int32:
            return None
        return codes, numpy_helper.to_array(self.inits[dq.input[1]]).astype(np.float64), dq.input[0]

    def output_of(self, layer: WeightLayer) -> str:
        """The layer's output tensor here: the quantizer renames it when it folds a following Clip/Relu."""
        return self.nodes[layer.name].output[0]

    def float_bias_after(self, layer: WeightLayer) -> str | None:
        """The float constant of an Add right after a MatMul (the usual Linear bias), if any, also
        behind the Q/DQ pair the quantizer puts on the MatMul's output. An Add the quantizer quantized
        holds an int8 constant, too coarse to carry a correction: None."""
        outs = {self.output_of(layer)}
        for n in self.model.graph.node:  # graph order: a Q comes before its DQ
            if n.op_type in ("QuantizeLinear", "DequantizeLinear") and n.input[0] in outs:
                outs.add(n.output[0])
        for n in self.model.graph.node:
            if n.op_type == "Add" and outs & set(n.input):
                other = next((i for i in n.input if i not in outs), None)
                if other in self.inits and self.inits[other].data_type == onnx.TensorProto.FLOAT:
                    return other
        return None

    def replace(self, name: str, values: np.ndarray) -> None:
        self.inits[name].CopyFrom(numpy_helper.from_array(values, name))


def with_outputs(model: onnx.ModelProto, tensors: Iterable[str]) -> onnx.ModelProto:
    """A copy of the model that also returns `tensors` (shape left open)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for t in tensors:
        if t not in have:
            m.graph.output.append(helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None))
            have.add(t)
    return m


def session(model: onnx.ModelProto, threads: int | None = None):
    """An ONNX Runtime CPU session on an in-memory graph (protobuf limits it to 2 GiB, as the
    quantizer's own files are)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"])
