"""A deterministic, instant test double of the pipeline (other tiers' tests use it: bring-up).

The node tests themselves run the real pipeline (tests/node_pipelines.py). This double keeps the
same interface: a real (small) Meta AutoEncoder, an encoder mapping an image to structured tokens
seeded by its content, and an answerer reporting the token mean.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from layer_helpers import small_codec, structured_tokens


class DoubleEncoder:
    """Image -> structured tokens seeded by the image content (deterministic, instant)."""

    def encode(self, rgb: np.ndarray) -> np.ndarray:
        return structured_tokens(1, seed=int(rgb[::16, ::16].sum()) % 10_000)[0]


class DoubleAnswerer:
    def answer(self, tokens: np.ndarray, question: str):
        return SimpleNamespace(text=f"mean {float(tokens.mean()):.3f}", confidence=0.5)


def double_pipeline():
    return SimpleNamespace(encoder=DoubleEncoder(), codec=small_codec(), answerer=DoubleAnswerer())
