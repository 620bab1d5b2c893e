"""Where calibration images come from (`prosem calibrate`): bundled photos with augmentations,
easy-VQA training images, image files, camera frames from a rosbag. Plain generators of RGB uint8
HxWx3 arrays; heavy imports happen only when a source is used.
"""
from __future__ import annotations

import glob
import os
from collections.abc import Iterator

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def photo_variants(per_photo: int, seed: int = 0) -> list[np.ndarray]:
    """scikit-image's bundled photos, each with `per_photo - 1` random crops (35-100 % of the side),
    horizontal flips and colour/brightness jitter: natural-image statistics without a download."""
    from prosem_core.models.sample_images import bundled_photos

    rng = np.random.default_rng(seed)
    out = []
    for _, photo in bundled_photos():
        if photo.ndim == 3 and np.ptp(photo.astype(np.int16), axis=2).max() == 0:
            continue  # grey photos are the benchmark's held-out set
        out += _augment(photo, per_photo, rng)
    return out


# Grey-level scikit-image photos that calibration never uses: the codec benchmark's held-out photos.
HELD_OUT_PHOTOS = ("camera", "moon", "coins", "horse", "brick", "grass", "gravel", "clock", "page", "text")


def held_out_photos(per_photo: int, seed: int = 1000) -> list[np.ndarray]:
    """Held-out natural images (grey photos as RGB, with crops/flips/jitter): none of them, nor any
    crop of them, is among photo_variants()' calibration images."""
    from skimage import data

    rng = np.random.default_rng(seed)
    out = []
    for name in HELD_OUT_PHOTOS:
        try:
            im = np.asarray(getattr(data, name)())
        except Exception:  # absent or needs a download in this scikit-image version
            continue
        if im.dtype == bool:
            im = im.astype(np.uint8) * 255
        if im.dtype != np.uint8 or im.ndim != 2:
            continue
        out += _augment(np.repeat(im[:, :, None], 3, axis=2), per_photo, rng)
    return out


def _augment(photo: np.ndarray, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    h, w = photo.shape[:2]
    out = [photo]
    for _ in range(count - 1):
        s = rng.uniform(0.35, 1.0)
        ch, cw = max(16, int(h * s)), max(16, int(w * s))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = photo[y:y + ch, x:x + cw].astype(np.float32)
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crop = crop * rng.uniform(0.7, 1.3, size=3) + rng.uniform(-25, 25)
        out.append(np.clip(crop, 0, 255).astype(np.uint8))
    return out


def image_files(pattern: str) -> list[str]:
    """A directory (its image files, sorted) or a glob pattern."""
    if os.path.isdir(pattern):
        files = sorted(os.path.join(pattern, f) for f in os.listdir(pattern) if f.lower().endswith(IMAGE_EXTENSIONS))
    else:
        files = sorted(f for f in glob.glob(pattern, recursive=True) if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise FileNotFoundError(f"no image files match {pattern!r}")
    return files


def read_image_files(files: list[str]) -> Iterator[np.ndarray]:
    from PIL import Image

    for f in files:
        with Image.open(f) as im:
            yield np.asarray(im.convert("RGB"))


def easy_vqa_train_images(count: int) -> list[np.ndarray]:
    from prosem_core.models.datasets import easy_vqa_images

    _, images = easy_vqa_images("train")
    return images[:count]


def bag_images(bag_dir: str, topic: str | None, every: int, limit: int | None) -> Iterator[np.ndarray]:
    """Every `every`-th camera frame of a bag (a rosbag2 folder, with or without metadata.yaml, or an
    .mcap/.db3 file; prosem_core.bags.read_images), at most `limit`."""
    from prosem_core.bags import is_bag, read_images

    if not os.path.exists(bag_dir):
        raise FileNotFoundError(f"bag {bag_dir!r} does not exist")
    if not is_bag(bag_dir):
        raise ValueError(f"{bag_dir!r} is not a bag (a folder with metadata.yaml or .mcap/.db3 files, or such a file)")
    taken = 0
    for i, (_, rgb) in enumerate(read_images(bag_dir, topic=topic, topic_option="--topic")):
        if i % every:
            continue
        yield rgb
        taken += 1
        if limit is not None and taken >= limit:
            return
