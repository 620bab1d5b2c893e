"""Offline photos for calibration, benchmarks, tests and demos (no download, nothing shipped by us).

Every image below is read from a package already in the project's environment; none is copied into
this repository. Provenance and licence, as the packages document them:

scikit-image (skimage.data, bundled in the scikit-image wheel; BSD-3 package, images as follows):
    astronaut            NASA Great Images: Eileen Collins portrait; public domain (NASA)
    chelsea              a tabby cat; CC0 (photographer Stefan van der Walt)
    coffee               an espresso cup; CC0 (photographer Rachel Michetti, Pikolo Espresso Bar)
    rocket               DSCOVR launch on Falcon 9; public domain (SpaceX)
    motorcycle_left/right  Middlebury 2014 stereo pair (Scharstein et al.), downsampled; the two
                         views are near-duplicates, so they always sit on the same side of a split
    hubble_deep_field    Hubble deep field; public domain (NASA)
    retina               fundus photograph (Wikimedia Commons); CC0
    immunohistochemistry microscopy of stained tissue; no known copyright restrictions
    camera (grey)        a photographer on a lawn; CC0 (photographer Lav Varshney)
    coins (grey)         Greek coins from Pompeii, Brooklyn Museum; no known copyright restrictions
    moon (grey)          surface of the moon; scikit-image sample data (its docstring states no licence)
    clock (grey)         motion-blurred wall clock; public domain (photographer Stefan van der Walt)
    text (grey)          photo of painted text; no known copyright restrictions, public domain
    page (grey)          scanned printed page; scikit-image sample data (its docstring states no licence)
    brick, grass, gravel (grey)  CC0Textures photos (CC0)
    cell (grey)          quantitative phase microscopy of a cell (Guck lab); CC0
    logo, colorwheel     scikit-image logo and a colour wheel (not photos; calibration variety only)
matplotlib (mpl-data/sample_data, bundled in the matplotlib wheel):
    grace_hopper         official US Navy portrait of Grace Hopper; public domain (US Navy)

Splits (by source photo, so no crop of a held-out photo is ever seen by calibration):
    CALIBRATION_PHOTOS  what `prosem calibrate --photos` fits on
    HELD_OUT_PHOTOS     what `prosem bench codec` measures on (3 colour and 5 grey photos: objects,
                        a portrait, textures, text, a blurred scene)
Crops (`photo_crops`): random windows of 25-100 % of the side with aspect jitter, flips and
colour/brightness jitter, seeded; each is a different input to the encoder.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Colour photos shipped inside scikit-image's wheel (no download needed); kept for the camera
# sequence (bench/camera_sequence.py), demos and tests.
PHOTO_NAMES = ("chelsea", "astronaut", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
               "retina", "colorwheel", "logo", "motorcycle_left", "camera")

CALIBRATION_PHOTOS = ("astronaut", "rocket", "motorcycle_left", "motorcycle_right", "hubble_deep_field",
                      "retina", "immunohistochemistry", "camera", "brick", "grass", "cell", "page",
                      "logo", "colorwheel")
HELD_OUT_PHOTOS = ("chelsea", "coffee", "grace_hopper", "moon", "coins", "gravel", "clock", "text")


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        return np.asarray(getattr(data, name)())
    return load


def _stereo(side: int) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        return np.asarray(data.stereo_motorcycle()[side])
    return load


def _matplotlib(file: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from matplotlib import cbook
        from PIL import Image

        with Image.open(cbook.get_sample_data(file, asfileobj=False)) as im:
            return np.asarray(im.convert("RGB"))
    return load


_LOADERS: dict[str, Callable[[], np.ndarray]] = {
    **{n: _skimage(n) for n in ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "retina",
                                "immunohistochemistry", "camera", "coins", "moon", "clock", "text", "page",
                                "brick", "grass", "gravel", "cell", "logo", "colorwheel")},
    "motorcycle_left": _stereo(0), "motorcycle_right": _stereo(1),
    "grace_hopper": _matplotlib("grace_hopper.jpg"),
}


def _as_rgb(im: np.ndarray) -> np.ndarray | None:
    """uint8 RGB, or None for images this loader cannot use (float, binary, odd channel counts)."""
    if im.dtype == bool:
        im = im.astype(np.uint8) * 255
    if im.dtype != np.uint8:
        return None
    if im.ndim == 2:
        im = np.repeat(im[:, :, None], 3, axis=2)
    if im.ndim != 3 or im.shape[2] < 3:
        return None
    return np.ascontiguousarray(im[:, :, :3])


def load_photos(names: tuple[str, ...]) -> list[tuple[str, np.ndarray]]:
    """(name, RGB uint8) of every named photo this environment can load offline (others skipped)."""
    unknown = [n for n in names if n not in _LOADERS]
    if unknown:
        raise ValueError(f"unknown photo names {unknown}; known: {sorted(_LOADERS)}")
    out = []
    for name in names:
        try:
            im = _as_rgb(_LOADERS[name]())
        except Exception:  # not bundled in this package version (would need a download): skip
            continue
        if im is not None:
            out.append((name, im))
    return out


def bundled_photos() -> list[tuple[str, np.ndarray]]:
    """(name, RGB uint8 image) for every PHOTO_NAMES photo this scikit-image version can load offline."""
    return load_photos(PHOTO_NAMES)


def photo_crops(names: tuple[str, ...], per_photo: int, seed: int = 0,
                min_scale: float = 0.25) -> list[tuple[str, np.ndarray]]:
    """(source name, crop) pairs: for each photo, the photo itself plus `per_photo - 1` seeded random
    crops (side 25-100 % of the photo's, aspect jitter, horizontal flips, colour/brightness jitter)."""
    if per_photo < 1 or not 0.0 < min_scale <= 1.0:
        raise ValueError("per_photo must be >= 1 and min_scale in (0, 1]")
    rng = np.random.default_rng(seed)
    out = []
    for name, photo in load_photos(names):
        out.append((name, photo))
        h, w = photo.shape[:2]
        for _ in range(per_photo - 1):
            s = rng.uniform(min_scale, 1.0)
            aspect = np.exp(rng.uniform(-0.3, 0.3))
            ch = int(np.clip(h * s * aspect, 16, h))
            cw = int(np.clip(w * s / aspect, 16, w))
            y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            crop = photo[y:y + ch, x:x + cw].astype(np.float32)
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            crop = crop * rng.uniform(0.75, 1.25, size=3) + rng.uniform(-20, 20)
            out.append((name, np.clip(crop, 0, 255).astype(np.uint8)))
    return out


def cat_photo() -> np.ndarray:
    """skimage.data.chelsea(): a tabby cat, 300x451 RGB."""
    from skimage import data

    return data.chelsea()
