"""Helpers for the bring-your-own-VLM tests: tiny random-weight model directories (built here, offline),
their ONNX exports, photos on disk and codebooks made with `prosem calibrate`."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def tiny_model(root: Path, family: str, seed: int, export: bool = True, **export_kw) -> Path:
    from prosem_core.models.vlm.tiny import build_tiny_model_dir

    assert os.environ.get("HF_HUB_OFFLINE") == "1", "tests must run offline"
    path = build_tiny_model_dir(family, root / f"{family}-{seed}", seed=seed)
    if export:
        from prosem_core.models.vlm.onnx_export import export_edge

        export_edge(path, family, log=lambda _m: None, **export_kw)
    return path


def write_photos(folder: Path, count: int, seed: int = 0) -> Path:
    from PIL import Image

    from prosem_core.codec.calibration_images import photo_variants

    folder.mkdir(parents=True, exist_ok=True)
    per_photo = max(2, -(-count // 9))
    for i, im in enumerate(photo_variants(per_photo, seed=seed)[:count]):
        Image.fromarray(im).save(folder / f"{i:03d}.png")
    return folder


def calibrate(family: str, model_dir: Path, images: Path, out: Path, *extra: str) -> int:
    from prosem_core.cli.main import main

    return main(["calibrate", "--model", family, "--model-dir", str(model_dir), "--images", str(images),
                 "--out", str(out), "--budgets", "128,128,256,512,1024", "--detail-components", "16", *extra])


def photo(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx * yy) % 256], -1)
    return np.clip(img + rng.integers(-30, 31, img.shape), 0, 255).astype(np.uint8)
