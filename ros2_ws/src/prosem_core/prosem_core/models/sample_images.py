"""Bundled photos from scikit-image (offline) for calibration, tests and demos."""
from __future__ import annotations

import numpy as np

# Colour photos shipped inside scikit-image's wheel (no download needed).
PHOTO_NAMES = ("chelsea", "astronaut", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
               "retina", "colorwheel", "logo", "motorcycle_left", "camera")


def bundled_photos() -> list[tuple[str, np.ndarray]]:
    """(name, RGB uint8 image) for every bundled photo this scikit-image version can load offline."""
    from skimage import data

    out = []
    for name in PHOTO_NAMES:
        loader = getattr(data, name, None)
        if loader is None:
            continue
        try:
            im = loader()
        except Exception:  # pooch-fetched images fail offline; skip them
            continue
        if isinstance(im, tuple):
            im = im[0]
        im = np.asarray(im)
        if im.dtype != np.uint8:
            continue
        if im.ndim == 2:
            im = np.repeat(im[:, :, None], 3, axis=2)
        out.append((name, np.ascontiguousarray(im[:, :, :3])))
    return out


def cat_photo() -> np.ndarray:
    """skimage.data.chelsea(): a tabby cat, 300x451 RGB."""
    from skimage import data

    return data.chelsea()
