"""Vision encoder interface and factory (the edge side of the split).

Every runtime maps an RGB uint8 image to the same tokens: the output of EfficientNet-Lite0's
`extract_features` (1280 x 7 x 7 after the head conv + BN + ReLU6), laid out as 49 tokens x 1280,
row-major over the 7x7 grid. `build_encoder` imports a runtime's module only when asked, so
`build_encoder("onnx")` works on an edge computer without torch.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

ENCODER_NAME = "efficientnet-lite0"
TOKEN_SHAPE = (49, 1280)
RUNTIMES = ("torch", "onnx", "onnx-int8")


class VisionEncoder(Protocol):
    name: str
    runtime: str
    token_shape: tuple[int, int]  # (views * T, D): all views of a frame, view after view
    views: int  # views per frame (1, or tiles + global view with SmolVLM image splitting)

    def encode(self, rgb_uint8_hwc: np.ndarray) -> np.ndarray:
        """RGB uint8 HxWx3 -> float32 [T, D]."""

    def encode_batch(self, images: list[np.ndarray]) -> np.ndarray:
        """list of RGB images -> float32 [N, T, D]."""


def features_to_tokens(features: np.ndarray) -> np.ndarray:
    """[N, D, H, W] feature maps -> [N, H*W, D] tokens (row-major grid order)."""
    n, d, h, w = features.shape
    return np.ascontiguousarray(features.reshape(n, d, h * w).transpose(0, 2, 1), dtype=np.float32)


def build_encoder(runtime: str = "torch", threads: int | None = 1) -> VisionEncoder:
    """Vision encoder for `runtime` in RUNTIMES. ONNX runtimes need the exported files (see paths).

    threads=1 by default: at batch 1 this small net gains little from more threads, and on a shared
    or busy CPU extra threads spin and wait (measured here: 35 ms with 1 thread vs 850 ms with 2 under
    load). None keeps the runtime's own default.
    """
    if runtime == "torch":
        from prosem_core.models.encoder_torch import TorchEncoder

        return TorchEncoder(threads=threads)
    if runtime in ("onnx", "onnx-int8"):
        from prosem_core.models.encoder_onnx import OnnxEncoder

        return OnnxEncoder(variant="fp32" if runtime == "onnx" else "int8", threads=threads)
    raise ValueError(f"unknown encoder runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
