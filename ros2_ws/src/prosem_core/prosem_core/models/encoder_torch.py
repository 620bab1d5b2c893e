"""Vision encoder on torch (reference runtime; the ONNX exports are checked against it)."""
from __future__ import annotations

import numpy as np
import torch

from prosem_core.models.efficientnet import TokenModel, load_efficientnet_lite0
from prosem_core.models.encoder import ENCODER_NAME, TOKEN_SHAPE, features_to_tokens
from prosem_core.models.preprocess import batch_input, to_input


class TorchEncoder:
    runtime = "torch"
    token_shape = TOKEN_SHAPE
    views = 1  # one 224 px view per frame (VLM encoders with image splitting have more)

    def __init__(self, threads: int | None = None):
        if threads:
            torch.set_num_threads(threads)
        self.net = load_efficientnet_lite0()
        self.model = TokenModel(self.net).eval()
        self.name = f"{ENCODER_NAME}/torch"

    @torch.inference_mode()
    def _run(self, x: np.ndarray) -> np.ndarray:
        return features_to_tokens(self.model(torch.from_numpy(x)).numpy())

    def encode(self, rgb_uint8_hwc: np.ndarray) -> np.ndarray:
        return self._run(to_input(rgb_uint8_hwc))[0]

    def encode_batch(self, images: list[np.ndarray], batch_size: int = 64) -> np.ndarray:
        out = [self._run(batch_input(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
        return np.concatenate(out, axis=0) if out else np.zeros((0, *TOKEN_SHAPE), np.float32)
