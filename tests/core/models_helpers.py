"""Shared fixtures for the models tests: ONNX exports present (exported once if missing), sample images."""
from __future__ import annotations

import numpy as np


def ensure_onnx() -> None:
    """Export the encoder if `make setup` has not (idempotent, ~10 s once)."""
    from prosem_core.models.export import int8_is_current
    from prosem_core.models.paths import minilm_onnx_path, onnx_path

    if not (onnx_path("fp32").is_file() and int8_is_current(onnx_path("int8")) and minilm_onnx_path().is_file()):
        from prosem_core.models.export import export_all

        export_all()


def easy_vqa_sample(n_images: int, seed: int = 0):
    """(images, questions, answers, image index per question) for n seeded easy-VQA test images."""
    from prosem_core.models.datasets import easy_vqa_images, easy_vqa_questions

    ids, images = easy_vqa_images("test")
    pick = np.sort(np.random.default_rng(seed).choice(len(ids), size=n_images, replace=False))
    data = easy_vqa_questions("test")
    rows = np.flatnonzero(np.isin(data.image_ids, ids[pick]))
    img_index = np.searchsorted(ids[pick], data.image_ids[rows])
    return [images[i] for i in pick], [data.questions[i] for i in rows], [data.answers[i] for i in rows], img_index
