"""The static int8 recipe (models/int8/quantize.py) on a small graph built here: a QDQ graph that
runs, float layers kept as asked, and least-squares rounding plus bias correction closer to float
than ONNX Runtime's nearest rounding alone on inputs like the calibration ones."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from prosem_core.models.int8.graph import session, weight_layers
from prosem_core.models.int8.quantize import quantize_static_onnx
from prosem_core.models.int8.recipe import Int8Recipe


def _graph(path, seed=0):
    """x [N,4,16,16] -> conv3x3(8) -> relu -> depthwise3x3 -> relu -> conv1x1(6) -> transpose ->
    matmul(6x5) + bias: a conv stem, a depthwise conv and a Linear. The stem's kernels are large and
    sum to about zero (edge detectors, as BN folding leaves in EfficientNet's stem): on smooth inputs
    their rounding errors add up instead of averaging out."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(size=(8, 4, 3, 3)).astype(np.float32)
    w1 = 8 * (w1 - w1.mean(axis=(1, 2, 3), keepdims=True))
    w2 = rng.normal(size=(8, 1, 3, 3)).astype(np.float32) * 0.6
    w3 = rng.normal(size=(6, 8, 1, 1)).astype(np.float32) * 0.5
    w4 = rng.normal(size=(6, 5)).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in (
        (w1, "w1"), (rng.normal(size=8).astype(np.float32) * 0.1, "b1"), (w2, "w2"), (np.zeros(8, np.float32), "b2"),
        (w3, "w3"), (np.zeros(6, np.float32), "b3"), (w4, "w4"), (rng.normal(size=5).astype(np.float32), "b4"))]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="dw", pads=[1, 1, 1, 1], group=8),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], name="pw"),
        helper.make_node("Transpose", ["c3"], ["t"], name="nhwc", perm=[0, 2, 3, 1]),
        helper.make_node("MatMul", ["t", "w4"], ["m"], name="linear"),
        helper.make_node("Add", ["m", "b4"], ["y"], name="linear_bias"),
    ]
    g = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4, 16, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _feeds(n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):  # smooth, correlated "images" with an offset, like camera frames
        base = rng.normal(size=(1, 4, 4, 4)).astype(np.float32)
        x = np.kron(base, np.ones((1, 1, 4, 4), np.float32)) + 0.1 * rng.normal(size=(1, 4, 16, 16)).astype(np.float32) + 0.3
        out.append({"x": x.astype(np.float32)})
    return out


def _weights_only(q_path, fp32_path):
    """The float graph with the int8 graph's dequantized weights: the error its rounding alone makes."""
    q, m = onnx.load(str(q_path)), onnx.load(str(fp32_path))
    qi = {i.name: numpy_helper.to_array(i) for i in q.graph.initializer}
    for dq in q.graph.node:
        name = dq.input[0][: -len("_quantized")]
        if dq.op_type == "DequantizeLinear" and dq.input[0].endswith("_quantized") and name.startswith("w"):
            codes, scale = qi[dq.input[0]].astype(np.float32), qi[dq.input[1]]
            axis = next((a.i for a in dq.attribute if a.name == "axis"), 1)
            shape = [1] * codes.ndim
            shape[axis] = -1
            init = next(i for i in m.graph.initializer if i.name == name)
            init.CopyFrom(numpy_helper.from_array((codes * scale.reshape(shape)).astype(np.float32), name))
    return m


def _error(model, ref_sess, feeds):
    sess = session(model if isinstance(model, onnx.ModelProto) else onnx.load(str(model)), 1)
    num = den = 0.0
    for f in feeds:
        r = ref_sess.run(None, f)[0]
        num += float(np.sum((sess.run(None, f)[0] - r) ** 2))
        den += float(np.sum(r ** 2))
    return (num / den) ** 0.5


@pytest.fixture(scope="module")
def fp32(tmp_path_factory):
    return _graph(str(tmp_path_factory.mktemp("int8") / "tiny.onnx"))


def test_recipe_writes_a_qdq_graph_closer_to_float_than_nearest_rounding(fp32, tmp_path):
    calib, held_out = _feeds(24, 0), _feeds(16, 1)
    ref = session(onnx.load(fp32), 1)
    ops = ("Conv", "MatMul")  # as for VLM towers: the Linear's bias Add stays float, so it can take the correction
    nearest = quantize_static_onnx(fp32, tmp_path / "nearest.onnx", calib, Int8Recipe(op_types=ops, rounding="nearest",
                                                                                      bias_correction=False))
    full = quantize_static_onnx(fp32, tmp_path / "full.onnx", calib, Int8Recipe(op_types=ops, bias_feeds=24))
    ops = {n.op_type for n in onnx.load(str(tmp_path / "full.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # static QDQ, not dynamic quantization
    assert set(full.quantized) == {"conv1", "dw", "pw", "linear"} and full.kept_float == []
    assert set(full.rounding) == {"conv1", "dw", "pw", "linear"}
    assert all(r["output_mse"] <= r["output_mse_nearest"] + 1e-15 for r in full.rounding.values())
    assert set(full.bias_corrected) == {"conv1", "dw", "pw", "linear"}  # int32 biases and the Linear's Add
    # On held-out inputs: the weights' own error drops (what the rounding optimises).
    w_near = _error(_weights_only(tmp_path / "nearest.onnx", fp32), ref, held_out)
    w_full = _error(_weights_only(tmp_path / "full.onnx", fp32), ref, held_out)
    assert 0 < w_full < 0.7 * w_near, (w_full, w_near)
    # Whole graph: within 2 % of nearest rounding. On a graph this small the 8-bit activation noise
    # dominates; what each step does is checked where it acts (weights above, means below).
    e_near, e_full = _error(tmp_path / "nearest.onnx", ref, held_out), _error(tmp_path / "full.onnx", ref, held_out)
    assert 0 < e_full < 1.02 * e_near, (e_full, e_near)
    assert nearest.rounding == {} and nearest.bias_corrected == []


def test_float_layers_are_left_unquantized(fp32, tmp_path):
    calib = _feeds(8, 0)
    rep = quantize_static_onnx(fp32, tmp_path / "q.onnx", calib, Int8Recipe(fp32_first=1, fp32_layers=("linear",),
                                                                            rounding="nearest", bias_correction=False))
    assert rep.kept_float == ["conv1", "linear"] and set(rep.quantized) == {"dw", "pw"}
    q = onnx.load(str(tmp_path / "q.onnx"))
    weights_dq = {n.input[0] for n in q.graph.node if n.op_type == "DequantizeLinear"}
    assert "w1" in {i.name for i in q.graph.initializer} and not any(t.startswith("w1") for t in weights_dq)
    assert [layer.name for layer in weight_layers(onnx.load(fp32))] == ["conv1", "dw", "pw", "linear"]


def test_fp32_first_and_last_count_from_each_end_and_never_wrap(fp32, tmp_path):
    from prosem_core.models.int8.quantize import float_layer_names

    layers = weight_layers(onnx.load(fp32))
    assert float_layer_names(layers, Int8Recipe(fp32_last=1)) == ["linear"]
    assert float_layer_names(layers, Int8Recipe(fp32_first=1, fp32_last=2)) == ["conv1", "pw", "linear"]
    assert float_layer_names(layers, Int8Recipe(fp32_last=9)) == ["conv1", "dw", "pw", "linear"]  # all, not a wrap


def test_bias_correction_cancels_each_layers_mean_output_error(fp32, tmp_path):
    """The mean error per output channel at every corrected layer, quantized graph vs float, on the
    calibration inputs: bias correction must shrink it (rounding alone leaves it)."""
    from prosem_core.models.int8.graph import QdqGraph, with_outputs

    calib = _feeds(24, 0)
    ops = ("Conv", "MatMul")
    quantize_static_onnx(fp32, tmp_path / "plain.onnx", calib, Int8Recipe(op_types=ops, bias_correction=False))
    rep = quantize_static_onnx(fp32, tmp_path / "bc.onnx", calib, Int8Recipe(op_types=ops, bias_feeds=24))
    layers = {layer.name: layer for layer in weight_layers(onnx.load(fp32))}
    ref = session(with_outputs(onnx.load(fp32), [layer.output for layer in layers.values()]), 1)

    def mean_error(path):
        q = QdqGraph(onnx.load(str(path)))
        # A Conv's int32 bias acts on its output; the Linear's correction goes into its bias Add ("y").
        names = [q.output_of(layers[n]) if layers[n].op == "Conv" else "y" for n in rep.bias_corrected]
        sess = session(with_outputs(q.model, names), 1)
        out = {}
        for n, name in zip(rep.bias_corrected, names):
            axes = (0, 2, 3) if layers[n].op == "Conv" else (0, 1, 2)
            ref_name = layers[n].output if layers[n].op == "Conv" else "y"
            diff = [sess.run([name], f)[0].mean(axis=axes) - ref.run([ref_name], f)[0].mean(axis=axes) for f in calib]
            out[n] = float(np.abs(np.mean(diff, axis=0)).mean())
        return out

    before, after = mean_error(tmp_path / "plain.onnx"), mean_error(tmp_path / "bc.onnx")
    assert set(rep.bias_corrected) == {"conv1", "dw", "pw", "linear"}
    for name in rep.bias_corrected:
        assert after[name] < 0.5 * before[name], (name, before[name], after[name])


def test_gemm_weights_and_batched_matmul_weights(tmp_path):
    """Gemm (transB 0 and 1) is re-rounded; a MatMul with a 3-D constant has no output-channel axis
    and is left out of the weight layers instead of breaking the recipe."""
    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.normal(size=(6, 5)).astype(np.float32), "g1"),
             numpy_helper.from_array(rng.normal(size=(4, 5)).astype(np.float32), "g2"),
             numpy_helper.from_array(rng.normal(size=(2, 4, 3)).astype(np.float32), "w3")]
    nodes = [helper.make_node("Gemm", ["x", "g1"], ["a"], name="gemm_plain"),
             helper.make_node("Gemm", ["a", "g2"], ["b"], name="gemm_tb", transB=1),
             helper.make_node("Reshape", ["b", "shape"], ["b3"], name="to3d"),
             helper.make_node("MatMul", ["b3", "w3"], ["y"], name="batched")]
    inits.append(numpy_helper.from_array(np.array([2, -1, 4], np.int64), "shape"))
    g = helper.make_graph(nodes, "gemms", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = str(tmp_path / "gemm.onnx")
    onnx.save(model, path)
    feeds = [{"x": rng.normal(size=(2, 6)).astype(np.float32) + 1.0} for _ in range(12)]
    assert [layer.name for layer in weight_layers(onnx.load(path))] == ["gemm_plain", "gemm_tb"]
    rep = quantize_static_onnx(path, tmp_path / "q.onnx", feeds, Int8Recipe(op_types=("Gemm", "MatMul"), bias_feeds=12))
    assert set(rep.rounding) == {"gemm_plain", "gemm_tb"}
    assert all(r["output_mse"] <= r["output_mse_nearest"] + 1e-15 for r in rep.rounding.values())
    assert _error(tmp_path / "q.onnx", session(onnx.load(path), 1), feeds) < 0.05


def test_bad_recipes_and_inputs_are_refused_and_nothing_is_written(fp32, tmp_path):
    out_dir = tmp_path / "out"
    out = out_dir / "never.onnx"
    with pytest.raises(ValueError, match="fp32_layers"):
        quantize_static_onnx(fp32, out, _feeds(2, 0), Int8Recipe(fp32_layers=("no_such_layer",)))
    with pytest.raises(ValueError, match="calibration"):
        quantize_static_onnx(fp32, out, [], Int8Recipe())
    # A failure inside the work (calibration feeds naming an input the graph lacks): no file, no temp file.
    with pytest.raises(Exception, match="(?i)input"):
        quantize_static_onnx(fp32, out, [{"wrong_name": np.zeros((1, 4, 16, 16), np.float32)}], Int8Recipe())
    assert not out.exists() and (not out_dir.exists() or list(out_dir.iterdir()) == [])
