"""Vision encoder on ONNX Runtime (fp32 export or int8 QDQ export). Never imports torch:
this is what the edge computer runs."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort

from prosem_core.models.encoder import ENCODER_NAME, TOKEN_SHAPE, features_to_tokens
from prosem_core.models.paths import require_onnx
from prosem_core.models.preprocess import batch_input, to_input


class OnnxEncoder:
    runtime = "onnx"
    token_shape = TOKEN_SHAPE
    views = 1  # one 224 px view per frame (VLM encoders with image splitting have more)

    def __init__(self, variant: str = "fp32", threads: int | None = None, path=None):
        self.variant = variant
        self.path = path or require_onnx(variant)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.runtime = "onnx" if variant == "fp32" else "onnx-int8"
        self.name = f"{ENCODER_NAME}/{self.runtime}"

    def _run(self, x: np.ndarray) -> np.ndarray:
        (features,) = self.session.run(None, {self.input_name: x})
        return features_to_tokens(features)

    def encode(self, rgb_uint8_hwc: np.ndarray) -> np.ndarray:
        return self._run(to_input(rgb_uint8_hwc))[0]

    def encode_batch(self, images: list[np.ndarray], batch_size: int = 32) -> np.ndarray:
        out = [self._run(batch_input(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
        return np.concatenate(out, axis=0) if out else np.zeros((0, *TOKEN_SHAPE), np.float32)
