"""Static int8 quantization that keeps answers: a recipe on top of ONNX Runtime's QDQ quantizer.

ONNX Runtime calibrates activation ranges and writes the QDQ graph (the form NPU delegates consume);
this package chooses which weight layers stay in float (`recipe`), re-chooses every int8 weight's
rounding to minimise the layer's output error on calibration inputs (`rounding`, `moments`), cancels
the mean output error each layer is left with (`quantize.correct_bias`), and measures per-layer
sensitivity (`sensitivity`). `quantize.quantize_static_onnx` runs the whole recipe on any ONNX graph.
"""
