"""`prosem bench vqa`: accuracy and semantic consistency per codec prefix on the easy-VQA test split.

Conditions (each answered by the same default answerer from a full 49 x 1280 grid):
  uncompressed   the encoder's tokens (the reference every other condition is compared with)
  codec k=1..K   MetaAutoEncoder prefix of k layers (bytes = sum of those layers, headers included)
  pool 1 / 4     baselines: tokens averaged to 1 token (global) or a 2x2 grid of regions, float16,
                 broadcast back onto the 7x7 grid
  fp16           tokens sent as float16 (a lossless-ish raw baseline)
  encoder int8   tokens from the int8 ONNX encoder, uncompressed (what an NPU's quantization costs)
Per condition: accuracy, exact agreement with the uncompressed answer, MiniLM cosine of answers
(easy-VQA head), plus ImageNet top-1 agreement and label cosine (the open-question path).
"""
from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from prosem_core.models.consistency import consistency
from prosem_core.models.datasets import easy_vqa_questions, easy_vqa_token_subset

GRID = 7


@dataclass
class VQABenchConfig:
    images: int = 1000  # test images used (all 1000 by default; their questions all count)
    runtime: str = "onnx"  # encoder whose tokens are the reference
    codebook: str | None = None  # None: the pipeline's default codebook
    with_int8: bool = True
    with_photos: bool = True  # open-question consistency on the bundled photos (needs the codec)
    seed: int = 0
    notes: list[str] = field(default_factory=list)


def pool_regions(tokens: np.ndarray, regions: int) -> tuple[np.ndarray, int]:
    """Average tokens [T=49, D] over regions x regions areas of the 7x7 grid, send as float16 and
    broadcast back to 49 tokens. Returns (tokens [49, D], bytes sent)."""
    grid = tokens.reshape(GRID, GRID, -1)
    edges = np.linspace(0, GRID, regions + 1).round().astype(int)
    out = np.empty_like(grid)
    for i in range(regions):
        for j in range(regions):
            a, b, c, d = edges[i], edges[i + 1], edges[j], edges[j + 1]
            mean = grid[a:b, c:d].reshape(-1, grid.shape[2]).mean(0).astype(np.float16).astype(np.float32)
            out[a:b, c:d] = mean
    return out.reshape(tokens.shape), regions * regions * tokens.shape[1] * 2


class _Condition:
    def __init__(self, name: str, kind: str, prefix: int | None = None):
        self.name, self.kind, self.prefix = name, kind, prefix
        self.tokens: list[np.ndarray] = []
        self.bytes: list[int] = []
        self.fidelity: list[float] = []


def run(cfg: VQABenchConfig = VQABenchConfig(), log=print) -> dict:
    from prosem_core.models.answerer import DefaultAnswerer
    from prosem_core.models.imagenet_head import load_fc
    from prosem_core.models.labels import imagenet_labels
    from prosem_core.models.text_embed import shared_embedder
    from prosem_core.pipeline import default_pipeline

    t_start = time.perf_counter()
    load_start = list(os.getloadavg())  # timings on a shared CPU: say how busy it was
    data = easy_vqa_questions("test")
    img_ids, ref_tokens = easy_vqa_token_subset("test", cfg.runtime, cfg.images, cfg.seed)
    qmask = np.isin(data.image_ids, img_ids)
    q_rows = np.flatnonzero(qmask)
    q_img = np.searchsorted(img_ids, data.image_ids[q_rows])
    questions = [data.questions[i] for i in q_rows]
    truth = [data.answers[i] for i in q_rows]
    log(f"{len(img_ids)} test images, {len(questions)} questions, reference tokens: {cfg.runtime}")

    conds = [_Condition("uncompressed", "reference")]
    conds[0].tokens = list(ref_tokens)
    conds[0].bytes = [ref_tokens[0].size * 4] * len(ref_tokens)

    # ---- codec prefixes
    codec, codec_error = None, None
    try:
        codec = default_pipeline(codebook=cfg.codebook).codec
    except Exception as exc:  # no codebook yet / corrupt: report it, run the baselines anyway
        codec_error = f"{type(exc).__name__}: {exc}"
        log(f"codec unavailable ({codec_error}); running baselines only")
    t_codec = {"encode_s": 0.0, "decode_s": 0.0}
    if codec is not None:
        k_max = codec.layer_count
        prefix_conds = [_Condition(f"codec k={k}", "codec", k) for k in range(1, k_max + 1)]
        for n, t in enumerate(ref_tokens):
            t0 = time.perf_counter()
            layers = codec.encode(t, frame_seq=n)
            t1 = time.perf_counter()
            for c in prefix_conds:
                c.tokens.append(codec.decode(layers[: c.prefix]))
                c.bytes.append(sum(len(x) for x in layers[: c.prefix]))
                c.fidelity.append(codec.fidelity(layers[: c.prefix]))
            t_codec["encode_s"] += t1 - t0
            t_codec["decode_s"] += time.perf_counter() - t1
        conds += prefix_conds

    # ---- baselines
    for regions in (1, 2):
        c = _Condition(f"pool {regions * regions}", "baseline")
        for t in ref_tokens:
            pooled, nbytes = pool_regions(t, regions)
            c.tokens.append(pooled)
            c.bytes.append(nbytes)
        conds.append(c)
    c = _Condition("fp16", "baseline")
    c.tokens = [t.astype(np.float16).astype(np.float32) for t in ref_tokens]
    c.bytes = [t.size * 2 for t in ref_tokens]
    conds.append(c)
    if cfg.with_int8 and cfg.runtime != "onnx-int8":
        try:
            ids8, tok8 = easy_vqa_token_subset("test", "onnx-int8", cfg.images, cfg.seed)
            assert np.array_equal(ids8, img_ids)
            c = _Condition("encoder int8", "encoder")
            c.tokens = list(tok8)
            c.bytes = [t.size * 4 for t in c.tokens]
            conds.append(c)
        except Exception as exc:
            cfg.notes.append(f"encoder int8 skipped: {type(exc).__name__}: {exc}")

    # ---- answer everything
    answerer = DefaultAnswerer()
    embedder = shared_embedder()
    w_fc, b_fc = load_fc()
    labels = imagenet_labels()
    label_vecs = embedder.embed(list(labels))
    rows = []
    ref_answers = ref_top1 = None
    t_answer = 0.0
    for c in conds:
        stack = np.stack(c.tokens)
        t0 = time.perf_counter()
        answers, _ = answerer.answer_shapes_batch(stack, questions, q_img)
        t_answer += time.perf_counter() - t0
        top1 = np.argmax(stack.mean(axis=1) @ w_fc.T + b_fc, axis=1)
        if c.kind == "reference":
            ref_answers, ref_top1 = answers, top1
        cons = consistency(answers, ref_answers, truth, embedder.cosine)
        method = {"codec": "codec", "reference": "uncompressed"}.get(c.kind, c.name.split()[0] if c.name.startswith("pool") else c.name)
        row = {"name": c.name, "method": method, "kind": c.kind, "prefix": c.prefix,
               "bytes_mean": float(np.mean(c.bytes)), "bytes_max": int(np.max(c.bytes)),
               "accuracy": cons.accuracy, "exact_agreement": cons.exact_agreement,
               "minilm_cosine": cons.minilm_cosine,
               "imagenet_top1_agreement": float(np.mean(top1 == ref_top1)),
               "imagenet_label_cosine": float(np.mean(np.sum(label_vecs[top1] * label_vecs[ref_top1], axis=1))),
               "token_rel_error": float(np.linalg.norm(stack - ref_tokens) / np.linalg.norm(ref_tokens))}
        if c.fidelity:
            row["fidelity_mean"] = float(np.mean(c.fidelity))
        rows.append(row)
        log(f"{c.name:>14}: {row['bytes_mean']:>9.0f} B  acc {row['accuracy']:.4f}  agree {row['exact_agreement']:.4f}  "
            f"cos {row['minilm_cosine']:.4f}  imagenet-agree {row['imagenet_top1_agreement']:.3f}")
    by_name = {r["name"]: r for r in rows}
    summary = {"uncompressed_accuracy": by_name["uncompressed"]["accuracy"]}
    if codec is not None:
        for k in (1, codec.layer_count):
            r = by_name[f"codec k={k}"]
            summary.update({f"codec_k{k}_bytes": r["bytes_mean"], f"codec_k{k}_accuracy": r["accuracy"],
                            f"codec_k{k}_exact_agreement": r["exact_agreement"],
                            f"codec_k{k}_minilm_cosine": r["minilm_cosine"]})
    photos = None
    if codec is not None and cfg.with_photos:
        from prosem_core.bench.vqa_photos import run as run_photos
        from prosem_core.models.encoder import build_encoder

        photos = run_photos(codec, answerer, build_encoder(cfg.runtime), embedder, log=log)
    return {
        "benchmark": "vqa",
        "summary": summary,
        "meta": {"cpus": os.cpu_count(), "load_average_at_start": load_start, "python": platform.python_version(),
                 "machine": platform.machine()},
        "split": "easy-vqa test",
        "images": int(len(img_ids)),
        "questions": int(len(questions)),
        "config": asdict(cfg),
        "codec": None if codec is None else {"codebook_id": codec.codebook_id, "layers": codec.layer_count},
        "codec_error": codec_error,
        "answerer": "default (easy-VQA head; ImageNet head for the open-path columns)",
        "metrics": {
            "accuracy": "compressed answer == ground truth (easy-VQA head)",
            "exact_agreement": "compressed answer == uncompressed answer",
            "minilm_cosine": "mean MiniLM cosine of compressed vs uncompressed answer text",
            "imagenet_top1_agreement": "ImageNet top-1 class (open path) equal to the uncompressed one",
            "imagenet_label_cosine": "MiniLM cosine of the two top-1 class names",
        },
        "conditions": rows,
        "photos_open_questions": photos,
        "timing_s": {"total": time.perf_counter() - t_start, "answer_all_conditions": t_answer, **t_codec},
    }
