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
    """The calibration photos (models.sample_images.CALIBRATION_PHOTOS), each with `per_photo - 1`
    seeded random crops, flips and colour jitter: natural-image statistics without a download.
    No held-out photo (HELD_OUT_PHOTOS) nor any crop of one is among them."""
    from prosem_core.models.sample_images import CALIBRATION_PHOTOS, photo_crops

    return [im for _, im in photo_crops(CALIBRATION_PHOTOS, per_photo, seed=seed)]


def calibration_crops(count: int, seed: int = 0) -> list[np.ndarray]:
    """The first `count` of photo_variants, with as few crops per photo as that needs."""
    from prosem_core.models.sample_images import CALIBRATION_PHOTOS

    per_photo = max(1, -(-count // len(CALIBRATION_PHOTOS)))
    return photo_variants(per_photo, seed=seed)[:count]


def held_out_photos(per_photo: int, seed: int = 1000) -> list[np.ndarray]:
    """The benchmark's held-out photos (models.sample_images.HELD_OUT_PHOTOS) with seeded crops:
    never seen by calibration."""
    from prosem_core.models.sample_images import HELD_OUT_PHOTOS, photo_crops

    return [im for _, im in photo_crops(HELD_OUT_PHOTOS, per_photo, seed=seed)]


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
