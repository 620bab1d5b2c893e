"""A VLM's edge half on torch (the reference the ONNX exports are checked against)."""
from __future__ import annotations

import numpy as np

from prosem_core.models.vlm.hf_backend import HfVlmBackend


class VlmTorchEncoder:
    runtime = "torch"

    def __init__(self, backend: HfVlmBackend):
        self.backend = backend
        self.token_shape = backend.token_shape
        self.view_token_shape = backend.view_token_shape
        self.views = backend.views
        self.grid = backend.grid
        self.name = f"{backend.family}/torch"

    def encode(self, rgb_uint8_hwc: np.ndarray) -> np.ndarray:
        return self.backend.edge_tokens(rgb_uint8_hwc)

    def encode_batch(self, images: list[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros((0, *self.token_shape), np.float32)
        return np.stack([self.encode(im) for im in images])
