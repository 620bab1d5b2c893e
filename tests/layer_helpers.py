"""Real Meta AutoEncoder layers for the assembly and node tests, without the shipped models.

A small codec fitted once per process on structured tokens (a mean, a few shared directions and
noise, like real visual tokens: most energy in a few components), so its layers refine visibly.
"""
from __future__ import annotations

import functools

import numpy as np

from prosem_core.codec import MetaAutoEncoder

TOKENS, DIM = 16, 64


def structured_tokens(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(1234).standard_normal((6, DIM)).astype(np.float32)
    mean = np.random.default_rng(99).standard_normal(DIM).astype(np.float32)
    weights = rng.standard_normal((n, TOKENS, 6)).astype(np.float32) * np.array([3, 2, 1.5, 1, 0.7, 0.5], np.float32)
    return (mean + weights @ basis + 1.0 * rng.standard_normal((n, TOKENS, DIM))).astype(np.float32)


@functools.lru_cache(maxsize=2)
def small_codec(seed: int = 0) -> MetaAutoEncoder:
    calib = structured_tokens(48, seed=seed + 10)
    return MetaAutoEncoder.fit(calib, detail_components=16, metric_rank=16, step_calibration_frames=24)


def frame_layers(frame_seq: int, seed: int = 0, codec_seed: int = 0) -> list[bytes]:
    return small_codec(codec_seed).encode(structured_tokens(1, seed=seed + frame_seq)[0], frame_seq=frame_seq)
