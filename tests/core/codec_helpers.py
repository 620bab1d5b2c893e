"""Small synthetic codec fixtures shared by the codec tests (fast: 4x4 grid, 64 channels)."""
from __future__ import annotations

import functools

import numpy as np

from prosem_core.codec import MetaAutoEncoder

T, D = 16, 64


def synthetic_tokens(n: int, seed: int) -> np.ndarray:
    """Tokens with structure like CNN features: non-negative, correlated channels, smooth grid."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(12, D)) / 3.0
    latent = rng.normal(size=(n, 4, 4, 12))
    latent = latent + np.roll(latent, 1, axis=1) + np.roll(latent, 1, axis=2)
    x = np.maximum(latent.reshape(n, T, 12) @ mix + 0.3 * rng.normal(size=(n, T, D)), 0.0)
    return x.astype(np.float32)


@functools.cache
def small_codec(model_kind: str = "matrix") -> MetaAutoEncoder:
    """"matrix": a model map W [24, D] and a truncated detail level; "none": plain error, full basis."""
    rng = np.random.default_rng(7)
    model = rng.normal(size=(24, D)).astype(np.float32) if model_kind == "matrix" else None
    return MetaAutoEncoder.fit(synthetic_tokens(160, seed=1), model=model, layer_budgets=(96, 96, 300, 600, 1200),
                               detail_components=32 if model_kind == "matrix" else D, metric_rank=16, step_calibration_frames=32)
