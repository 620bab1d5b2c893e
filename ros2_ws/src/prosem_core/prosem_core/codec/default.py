"""The shipped codebook for the default encoder (EfficientNet-Lite0, 49 x 1280 tokens)."""
from __future__ import annotations

import functools
from pathlib import Path

from .autoencoder import MetaAutoEncoder

DEFAULT_CODEBOOK = Path(__file__).resolve().parent.parent / "data" / "codebooks" / "efficientnet_lite0"


@functools.lru_cache(maxsize=1)
def default_codec() -> MetaAutoEncoder:
    """Load (once) the shipped codebook; CodecError if it is missing or corrupt."""
    return MetaAutoEncoder.load(DEFAULT_CODEBOOK)
