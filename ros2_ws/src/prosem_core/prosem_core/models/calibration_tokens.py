"""Tokens for fitting a codebook: any family's edge half over a list of images, resumable and capped.

Every image's tokens go through a TokenCache (when given), so an interrupted or time-capped run
continues where it stopped. Progress (with an ETA) goes to stderr through tqdm.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np

from prosem_core.models.token_cache import TokenCache, image_key


@dataclass
class CollectedTokens:
    tokens: np.ndarray  # float32 [N, T, D]
    from_cache: int
    computed: int
    not_encoded: int  # images left out by the time cap
    stopped_by: str | None  # "time" when the cap ended encoding early


def collect_tokens(encoder, images: list[np.ndarray], cache: TokenCache | None = None, *,
                   max_seconds: float | None = None, progress: bool = True) -> CollectedTokens:
    """Tokens of `images` through encoder.encode, cached images first; stops encoding after max_seconds."""
    from tqdm import tqdm

    keys = [image_key(im) for im in images]
    out: list[np.ndarray | None] = [cache.get(k) if cache is not None else None for k in keys]
    hits = sum(t is not None for t in out)
    todo = [i for i, t in enumerate(out) if t is None]
    deadline = time.monotonic() + max_seconds if max_seconds is not None else None
    stopped_by, computed = None, 0
    bar = tqdm(total=len(todo), desc="encoding", unit="img", file=sys.stderr, disable=not progress or not todo)
    try:
        for i in todo:
            if deadline is not None and time.monotonic() >= deadline:
                stopped_by = "time"
                break
            try:
                tokens = np.asarray(encoder.encode(images[i]), dtype=np.float32)
            except ValueError as exc:  # bad pixels: say which image
                raise ValueError(f"calibration image {i}: {exc}") from exc
            out[i] = tokens
            computed += 1
            if cache is not None:
                cache.put(keys[i], tokens)
            bar.update(1)
    finally:
        bar.close()
        if cache is not None:
            cache.flush()
    done = [t for t in out if t is not None]
    stacked = np.stack(done).astype(np.float32, copy=False) if done else np.zeros((0, 0, 0), np.float32)
    return CollectedTokens(stacked, hits, computed, len(images) - len(done), stopped_by)
