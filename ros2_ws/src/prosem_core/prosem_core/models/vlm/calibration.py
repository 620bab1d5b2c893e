"""Visual tokens of a real VLM for fitting a codebook (`prosem calibrate --backend smolvlm|llava`).

The codec fits its transform and quantisers on tokens the model itself produces from calibration
images, and weights errors by `backend.first_linear_map()` (pass the backend as `model=`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from . import BACKENDS, load_backend
from .base import VlmBackend, VlmInputError


def load_for_calibration(backend: str, model_dir: str, images: Iterable[np.ndarray],
                         max_images: int | None = None, **config) -> tuple[np.ndarray, VlmBackend]:
    """Run the edge half on every image: returns (tokens float32 [N, T, D], the loaded backend).

    backend: "smolvlm" | "llava" | "auto". images: RGB uint8 [H, W, 3] arrays (any sizes).
    max_images: stop after this many (None: all). config: VlmConfig fields (e.g.
    llava_projector_on_edge). The backend is loaded with both halves so that first_linear_map()
    and answer() work for evaluation afterwards.
    """
    if backend not in ("auto",) + BACKENDS:
        raise VlmInputError(f"backend must be one of {('auto',) + BACKENDS}, got {backend!r}")
    if max_images is not None and max_images < 1:
        raise VlmInputError(f"max_images must be >= 1, got {max_images}")
    config.setdefault("role", "both")
    vlm = load_backend(model_dir, backend=backend, **config)
    tokens = []
    for i, image in enumerate(images):
        if max_images is not None and i >= max_images:
            break
        try:
            tokens.append(vlm.edge_tokens(image))
        except VlmInputError as exc:
            raise VlmInputError(f"calibration image {i}: {exc}") from exc
    if not tokens:
        raise VlmInputError("no calibration images were given")
    return np.stack(tokens).astype(np.float32, copy=False), vlm
