"""Codec benchmark (`prosem bench codec`): bytes per frame vs downstream agreement, every method.

Data: the first `limit` easy-VQA test images and all their questions; held-out natural photos
(models/sample_images.py HELD_OUT_PHOTOS: 8 photos, colour and grey, never used for calibration,
each with seeded random crops); the bench camera sequence for the temporal section.
Reference: answers of the default answerer on the uncompressed tokens (same encoder runtime).
For every method and operating point we report bytes/frame, token cosine, answer agreement with the
reference and accuracy (easy-VQA), ImageNet top-1 agreement of the EfficientNet-Lite0 head on the
mean token (the open-question path; on photos also over the "confident" crops whose uncompressed
top-1 probability is >= 0.5), and encode/decode CPU ms per frame (thread CPU time, one thread).

Methods:
  codec k=1..L   this Meta AutoEncoder, prefix of k layers (bytes include the 31-byte headers)
  fp16 / int8    all tokens in half precision / int8 with one float32 scale per token
  pooled-4/1     2x2-pooled / mean token in fp16, broadcast back over the grid for the answerer
  mean-4bit-zlib the issue's baseline: mean token, 4-bit uniform, zlib
  jpeg/webp      the image compressed at several qualities, decoded and re-encoded in the cloud;
                 at the image's native size (easy-VQA: 64x64) and at the encoder's 224x224 input
                 (what a camera frame resized for the model costs)
Encode/decode times of jpeg/webp are the image codec only (the cloud-side encoder run is extra).
Temporal section (bench/codec_temporal.py): uplink bytes per frame of temporal coding vs keyframes
only on the camera sequence, with no loss and 30 % of layers dropped.
"""
from __future__ import annotations

import math
import os
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

QUALITIES = (10, 30, 50, 90)


@dataclass
class CodecBenchConfig:
    limit: int = 100  # easy-VQA test images (all their questions count)
    photos: int = 240  # held-out photo crops, spread over the held-out photos (0: skip)
    runtime: str = "onnx"  # encoder runtime for reference tokens and for jpeg/webp
    codebook: str | None = None  # None: the shipped codebook
    qualities: tuple[int, ...] = QUALITIES
    image_sizes: tuple[str, ...] = ("native", "224")
    timing_frames: int = 100
    temporal_frames: int = 160  # camera frames for the temporal section (0: skip)
    int8_study: bool = True  # int8 per-layer sensitivity and the recipe step by step (~5 min)
    seed: int = 0


@dataclass
class Row:
    method: str  # photos rows are prefixed "photos: " so generic per-method plots keep data sets apart
    setting: str
    dataset: str
    bytes_per_frame: float
    answer_agreement: float | None = None
    top1_agreement: float | None = None
    token_cosine: float | None = None
    encode_ms: float | None = None
    decode_ms: float | None = None
    accuracy: float | None = None
    fidelity: float | None = None
    extra: dict = field(default_factory=dict)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a2, b2 = a.reshape(len(a), -1), b.reshape(len(b), -1)
    num = (a2 * b2).sum(1)
    return float(np.mean(num / np.maximum(np.linalg.norm(a2, axis=1) * np.linalg.norm(b2, axis=1), 1e-12)))


def _cpu_ms(fn: Callable, items: list) -> tuple[list, float]:
    out, times = [], []
    for it in items:
        t0 = time.thread_time()
        out.append(fn(it))
        times.append(time.thread_time() - t0)
    return out, 1e3 * float(np.median(times))


class _Scorer:
    """Agreement/accuracy of reconstructed tokens for one data set."""

    def __init__(self, tokens: np.ndarray, answerer, fc, questions=None):
        self.tokens = tokens
        self.answerer, self.fc = answerer, fc
        self.ref_top1 = self.top1(tokens)
        self.q = questions
        if questions is not None:
            self.ref_answers = self.answers(tokens)

    def top1(self, toks: np.ndarray) -> np.ndarray:
        return (toks.mean(axis=1) @ self.fc[0].T + self.fc[1]).argmax(axis=1)

    def answers(self, toks: np.ndarray) -> np.ndarray:
        pos, texts, _ = self.q
        words, _ = self.answerer.answer_shapes_batch(toks[pos], texts)
        return np.asarray(words)

    def confident(self) -> np.ndarray:
        """Frames whose uncompressed top-1 probability is >= 0.5 (the model is sure of them)."""
        logits = self.tokens.mean(axis=1) @ self.fc[0].T + self.fc[1]
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        return p.max(axis=1) / p.sum(axis=1) >= 0.5

    def score(self, recon: np.ndarray) -> dict:
        same = self.top1(recon) == self.ref_top1
        out = {"token_cosine": _cosine(recon, self.tokens), "top1_agreement": float(np.mean(same))}
        if self.q is not None:
            ans = self.answers(recon)
            out["answer_agreement"] = float(np.mean(ans == self.ref_answers))
            out["accuracy"] = float(np.mean(ans == self.q[2]))
        return out


def _token_baselines(tokens: np.ndarray, grid: int = 7) -> dict[str, tuple[Callable, Callable, Callable]]:
    """name -> (encode tokens -> bytes, decode bytes -> tokens, nothing else)."""
    t, d = tokens.shape[1:]

    def fp16_enc(x):
        return x.astype(np.float16).tobytes()

    def fp16_dec(b):
        return np.frombuffer(b, np.float16).astype(np.float32).reshape(t, d)

    def int8_enc(x):
        scale = np.maximum(np.abs(x).max(axis=1, keepdims=True), 1e-12) / 127.0
        return scale.astype(np.float32).tobytes() + np.round(x / scale).astype(np.int8).tobytes()

    def int8_dec(b):
        scale = np.frombuffer(b, np.float32, count=t).reshape(t, 1)
        return np.frombuffer(b, np.int8, offset=4 * t).reshape(t, d).astype(np.float32) * scale

    cells = np.concatenate([np.full(len(a), i) for i, a in enumerate(np.array_split(np.arange(grid), 2))])
    cell_of = (cells[:, None] * 2 + cells[None, :]).reshape(-1)

    def pool4_enc(x):
        return np.stack([x[cell_of == c].mean(0) for c in range(4)]).astype(np.float16).tobytes()

    def pool4_dec(b):
        return np.frombuffer(b, np.float16).astype(np.float32).reshape(4, d)[cell_of]

    def mean_enc(x):
        return x.mean(0).astype(np.float16).tobytes()

    def mean_dec(b):
        return np.repeat(np.frombuffer(b, np.float16).astype(np.float32)[None], t, axis=0)

    def mean4_enc(x):
        m = x.mean(0)
        lo, hi = float(m.min()), float(m.max())
        q = np.round((m - lo) / max(hi - lo, 1e-12) * 15).astype(np.uint8)
        return np.float32([lo, hi]).tobytes() + zlib.compress((q[0::2] | (q[1::2] << 4)).tobytes(), 9)

    def mean4_dec(b):
        lo, hi = np.frombuffer(b, np.float32, count=2)
        packed = np.frombuffer(zlib.decompress(b[8:]), np.uint8)
        q = np.empty(d, np.float32)
        q[0::2], q[1::2] = packed & 15, packed >> 4
        return np.repeat((lo + q * (hi - lo) / 15)[None], t, axis=0)

    methods = {"fp16": (fp16_enc, fp16_dec), "int8": (int8_enc, int8_dec), "mean-4bit-zlib": (mean4_enc, mean4_dec)}
    if t == grid * grid:
        methods["pooled-4"] = (pool4_enc, pool4_dec)
    methods["pooled-1"] = (mean_enc, mean_dec)
    return methods


def _image_rows(name: str, images: list[np.ndarray], encoder, scorer: _Scorer, cfg: CodecBenchConfig,
                progress) -> list[Row]:
    from prosem_core.images import decode_image_bytes, encode_jpeg, encode_webp
    from prosem_core.models.preprocess import resize_rgb

    rows = []
    coders = {"jpeg": encode_jpeg, "webp": encode_webp}
    for size in cfg.image_sizes:
        src = images if size == "native" else [resize_rgb(im, int(size)) for im in images]
        for codec_name, enc_fn in coders.items():
            for q in cfg.qualities:
                blobs, enc_ms = _cpu_ms(lambda im, enc_fn=enc_fn, q=q: enc_fn(im, q), src)
                decoded, dec_ms = _cpu_ms(decode_image_bytes, blobs)
                recon = encoder.encode_batch(decoded).astype(np.float32)
                s = scorer.score(recon)
                rows.append(Row(f"{codec_name}@{size}", f"q{q}", name, float(np.mean([len(b) for b in blobs])),
                                encode_ms=enc_ms, decode_ms=dec_ms, **s))
                progress(1)
    return rows


def _codec_rows(name: str, tokens: np.ndarray, ae, scorer: _Scorer, cfg: CodecBenchConfig, progress) -> list[Row]:
    layers, enc_ms = _cpu_ms(lambda x: ae.encode(x, frame_seq=0), list(tokens))
    rows = []
    for k in range(1, ae.layer_count + 1):
        timed = layers[:cfg.timing_frames]
        _, dec_ms = _cpu_ms(lambda ls, k=k: ae.decode(ls[:k]), timed)
        recon = np.stack([ae.decode(ls[:k]) for ls in layers])
        nbytes = [sum(len(x) for x in ls[:k]) for ls in layers]
        fid = [ae.fidelity(ls[:k]) for ls in layers]
        conf = scorer.confident()
        same = scorer.top1(recon) == scorer.ref_top1
        rows.append(Row("codec", f"k={k}", name, float(np.mean(nbytes)), fidelity=float(np.mean(fid)),
                        encode_ms=enc_ms, decode_ms=dec_ms,
                        extra={"max_bytes": int(max(nbytes)), "layer_budget_total": int(sum(ae.layer_budgets[:k])),
                               "layer_bytes": float(np.mean([len(ls[k - 1]) for ls in layers])),
                               "top1_agreement_confident": float(np.mean(same[conf])) if conf.any() else None,
                               "confident_frames": int(conf.sum())},
                        **scorer.score(recon)))
        progress(1)
    return rows


def reference_workload_ms(repeats: int = 200) -> float:
    """Median thread-CPU ms of a fixed numpy workload (4x1280 @ 1280x1280 and 45x1280 @ 1280x256,
    float32): divides the codec's times to compare runs on busy or different hosts."""
    rng = np.random.default_rng(0)
    a, b = rng.random((4, 1280), np.float32), rng.random((1280, 1280), np.float32)
    c, d = rng.random((45, 1280), np.float32), rng.random((1280, 256), np.float32)
    _, ms = _cpu_ms(lambda _: (a @ b, c @ d), list(range(repeats)))
    return ms


def _baseline_rows(name: str, tokens: np.ndarray, scorer: _Scorer, progress) -> list[Row]:
    rows = []
    rows.append(Row("uncompressed", "fp32", name, float(tokens[0].nbytes), **scorer.score(tokens)))
    for method, (enc, dec) in _token_baselines(tokens).items():
        blobs, enc_ms = _cpu_ms(enc, list(tokens))
        recon, dec_ms = _cpu_ms(dec, blobs)
        rows.append(Row(method, "", name, float(np.mean([len(b) for b in blobs])), encode_ms=enc_ms, decode_ms=dec_ms,
                        **scorer.score(np.stack(recon))))
        progress(1)
    return rows


def _image_ratio(codec_rows: list[Row], image_rows: list[Row], key: str) -> dict:
    """For each codec prefix: the fewest image bytes reaching at least its agreement, and the ratio."""
    out = {}
    for r in codec_rows:
        better = [i.bytes_per_frame for i in image_rows if getattr(i, key) >= getattr(r, key)]
        largest = max(i.bytes_per_frame for i in image_rows)
        out[r.setting] = {"agreement": getattr(r, key), "codec_bytes": r.bytes_per_frame,
                          "image_bytes": min(better) if better else None,
                          "ratio": min(better) / r.bytes_per_frame if better else None,
                          # no image setting reached the codec's agreement: the ratio is at least this
                          "ratio_lower_bound": None if better else largest / r.bytes_per_frame}
    return out


def _prefix_summary(r: Row) -> dict:
    out = {"prefix": r.setting, "bytes": round(r.bytes_per_frame, 1), "max_bytes": r.extra["max_bytes"],
           "layer_bytes": round(r.extra["layer_bytes"], 1), "top1_agreement": r.top1_agreement,
           "fidelity": r.fidelity}
    if r.answer_agreement is not None:
        out["answer_agreement"] = r.answer_agreement
    if r.extra.get("top1_agreement_confident") is not None:
        out["top1_agreement_confident"] = r.extra["top1_agreement_confident"]
    return out


def _summary(rows: list[Row], ae) -> tuple[dict, dict]:
    """The issue's targets, checked against rows measured in this run; and the image comparison."""
    comparison: dict = {}
    vqa = [r for r in rows if r.dataset == "easy-vqa"]
    codec = [r for r in vqa if r.method == "codec"]
    unc = next(r for r in vqa if r.method == "uncompressed")
    base = codec[0]
    within = [r for r in codec if r.extra["max_bytes"] <= 2048]
    best2k = max(within, key=lambda r: r.answer_agreement) if within else None
    jpeg224 = next((r for r in vqa if r.method == "jpeg@224" and r.setting == "q50"), None)
    out = {
        "base_layer_bytes": base.bytes_per_frame, "base_layer_max_bytes": base.extra["max_bytes"],
        "base_layer_answer_agreement": base.answer_agreement,
        "best_agreement_within_2KiB": best2k.answer_agreement if best2k else None,
        "best_agreement_within_2KiB_prefix": best2k.setting if best2k else None,
        "accuracy_uncompressed": unc.accuracy, "accuracy_all_layers": codec[-1].accuracy,
        "encode_ms": codec[0].encode_ms, "decode_ms_base": codec[0].decode_ms,
        "decode_ms_all_layers": codec[-1].decode_ms,
        "encode_ms_over_jpeg224_q50_encode_ms": codec[0].encode_ms / jpeg224.encode_ms if jpeg224 else None,
        "targets": {"agreement>=0.97@<=2KiB": bool(best2k and best2k.answer_agreement >= 0.97),
                    "base<=1KiB&agreement>=0.85": bool(base.extra["max_bytes"] <= 1024 and base.answer_agreement >= 0.85),
                    "all-layers accuracy within 1 point": bool(abs(unc.accuracy - codec[-1].accuracy) <= 0.01),
                    "encode<=3ms": bool(codec[0].encode_ms <= 3.0), "decode<=3ms": bool(codec[-1].decode_ms <= 3.0)},
        "codebook_id": ae.codebook_id,
        "per_prefix": {"easy-vqa": [_prefix_summary(r) for r in codec]},
    }
    photo_codec = [r for r in rows if r.dataset == "photos" and r.method == "photos: codec"]
    if photo_codec:
        pb = photo_codec[0]
        first95 = next((r for r in photo_codec if r.top1_agreement >= 0.95), None)
        met = pb.extra["max_bytes"] <= 256 and pb.top1_agreement >= 0.95
        out.update({
            "photo_base_layer_bytes": pb.bytes_per_frame, "photo_base_layer_max_bytes": pb.extra["max_bytes"],
            "photo_base_layer_top1_agreement": pb.top1_agreement,
            "photo_base_layer_top1_agreement_confident": pb.extra["top1_agreement_confident"],
            "photo_first_prefix_top1>=0.95": first95.setting if first95 else None,
            "photo_first_prefix_top1>=0.95_bytes": first95.bytes_per_frame if first95 else None,
            "photo_base_layer_gap": None if met else (
                f"base layer {pb.bytes_per_frame:.0f} B mean / {pb.extra['max_bytes']} B max at top-1 agreement "
                f"{pb.top1_agreement:.3f} (target <= 256 B at >= 0.95); 0.95 first at "
                + (f"{first95.setting}, {first95.bytes_per_frame:.0f} B" if first95 else "no prefix"))})
        out["targets"]["photo base<=256B&top1>=0.95"] = bool(met)
        out["per_prefix"]["photos"] = [_prefix_summary(r) for r in photo_codec]
    # bytes of the best image codec (JPEG or WebP, any quality) at equal or better agreement
    for ds, key, codec_name in (("easy-vqa", "answer_agreement", "codec"), ("photos", "top1_agreement", "photos: codec")):
        ds_rows = [r for r in rows if r.dataset == ds]
        crow = [r for r in ds_rows if r.method == codec_name]
        for size in ("native", "224"):
            imgs = [r for r in ds_rows if r.method.split(": ")[-1] in (f"jpeg@{size}", f"webp@{size}")]
            if not imgs or not crow:
                continue
            ratios = _image_ratio(crow, imgs, key)
            out[f"bytes_ratio_image_over_codec.{ds}@{size}"] = {
                k: (f"{v['ratio']:.2f}" if v["ratio"] is not None else f">={v['ratio_lower_bound']:.1f} (no image reached it)")
                for k, v in ratios.items()}
            out[f"best_image_{key}.{ds}@{size}"] = max(getattr(i, key) for i in imgs)
            comparison[f"{ds}@{size}"] = ratios
    return out, comparison


def run(cfg: CodecBenchConfig, log: Callable[[str], None] = print) -> dict:
    from tqdm import tqdm

    from prosem_core.codec import MetaAutoEncoder, default_codec
    from prosem_core.models.answerer import DefaultAnswerer
    from prosem_core.models.datasets import easy_vqa_images, easy_vqa_questions, easy_vqa_tokens, tokens_for_questions
    from prosem_core.models.encoder import build_encoder
    from prosem_core.models.imagenet_head import load_fc

    ae = MetaAutoEncoder.load(cfg.codebook) if cfg.codebook else default_codec()
    answerer, fc = DefaultAnswerer(), load_fc()
    encoder = build_encoder(cfg.runtime)
    ids, tokens = easy_vqa_tokens("test", cfg.runtime, encoder=encoder)
    n = min(cfg.limit, len(ids))
    ids, tokens = ids[:n], np.asarray(tokens[:n], np.float32)
    _, images = easy_vqa_images("test")
    images = images[:n]
    split = easy_vqa_questions("test")
    sel = np.flatnonzero(np.isin(split.image_ids, ids))
    pos = tokens_for_questions(ids, tokens, split.image_ids[sel])
    questions = (pos, [split.questions[i] for i in sel], np.asarray([split.answers[i] for i in sel]))
    photos = []
    if cfg.photos:
        from prosem_core.codec.calibration_images import held_out_photos
        from prosem_core.models.sample_images import HELD_OUT_PHOTOS

        photos = held_out_photos(math.ceil(cfg.photos / len(HELD_OUT_PHOTOS)) + 1, seed=cfg.seed + 1000)
        rng = np.random.default_rng(cfg.seed)
        photos = [photos[i] for i in sorted(rng.choice(len(photos), min(cfg.photos, len(photos)), replace=False))]
    n_img = len(cfg.qualities) * 2 * len(cfg.image_sizes)
    total = (ae.layer_count + 5 + n_img) * (2 if photos else 1) + (12 if cfg.temporal_frames else 0)
    rows: list[Row] = []
    with tqdm(total=total, desc="bench codec", unit="op") as bar:
        datasets = [("easy-vqa", tokens, images, questions)]
        if photos:
            datasets.append(("photos", encoder.encode_batch(photos).astype(np.float32), photos, None))
        for name, toks, imgs, qs in datasets:
            scorer = _Scorer(toks, answerer, fc, qs)
            new = _baseline_rows(name, toks, scorer, bar.update)
            new += _codec_rows(name, toks, ae, scorer, cfg, bar.update)
            new += _image_rows(name, imgs, encoder, scorer, cfg, bar.update)
            if name != "easy-vqa":
                for r in new:
                    r.method = f"{name}: {r.method}"
            rows += new
        int8 = None
        if photos:
            from prosem_core.bench.codec_int8 import int8_edge

            int8 = int8_edge(photos, datasets[1][1], _Scorer(datasets[1][1], answerer, fc).top1, encoder,
                             study=cfg.int8_study)
        temporal = None
        if cfg.temporal_frames:
            from prosem_core.bench.codec_temporal import TemporalBenchConfig, run_temporal

            temporal = run_temporal(ae, encoder, answerer, fc,
                                    TemporalBenchConfig(frames=cfg.temporal_frames, seed=cfg.seed), bar.update)
    import platform

    report = {"config": asdict(cfg), "images": n, "questions": len(sel), "photos": len(photos),
              "meta": {"host": platform.node(), "cpus": os.cpu_count(), "load_avg": list(os.getloadavg()),
                       "numpy": np.__version__, "blas_threads_env": os.environ.get("OPENBLAS_NUM_THREADS")},
              "codebook": {"id": ae.codebook_id, "layer_budgets": list(ae.config.layer_budgets),
                           "provenance": ae.provenance},
              "timing": "median thread CPU ms per frame, single thread",
              "rows": [asdict(r) for r in rows]}
    report["summary"], report["image_comparison"] = _summary(rows, ae)
    if int8 is not None:
        report["int8_edge"] = int8
        report["summary"]["int8_edge_token_error"] = int8["token_rel_error_mean"]
        report["summary"]["int8_edge_top1_agreement"] = int8["top1_agreement_with_fp32"]
        report["summary"]["int8_edge_speedup_over_fp32"] = int8["speedup_over_fp32"]
        report["summary"]["int8_edge_gap"] = int8["gap"]
        report["summary"]["targets"]["int8 edge: error<=0.05, top1>=0.95, >=1.3x fp32"] = int8["target_met"]
    if temporal is not None:
        report["temporal"] = temporal
        for key, m in temporal["matched"].items():
            if not key.endswith("temporal-base"):
                continue
            name = key.rsplit(":", 1)[0]
            report["summary"][f"temporal_bytes_ratio_at_base_layer.{name}"] = m["at_base_layer"]
            report["summary"][f"temporal_bytes_ratio_worst.{name}"] = m["worst"]
            report["summary"]["targets"][f"temporal<=0.6x keyframes at the base layer, {name}"] = bool(
                m["at_base_layer"] is not None and m["at_base_layer"] <= 0.6)
        report["summary"]["temporal_still_bytes_per_layer"] = {
            mode: v["bytes_per_layer"] for mode, v in temporal["still"].items()}
    ref_ms = reference_workload_ms()
    report["summary"]["reference_workload_ms"] = ref_ms
    report["summary"]["encode_over_reference_workload"] = report["summary"]["encode_ms"] / ref_ms
    report["summary"]["decode_all_over_reference_workload"] = report["summary"]["decode_ms_all_layers"] / ref_ms
    return report


def plot(report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({r["dataset"] for r in report["rows"]})
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 4.5), squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        key = "answer_agreement" if ds == "easy-vqa" else "top1_agreement"
        rows = [r for r in report["rows"] if r["dataset"] == ds and r[key] is not None]
        groups: dict[str, list] = {}
        for r in rows:
            groups.setdefault(r["method"].split(": ")[-1], []).append(r)
        for label, rs in groups.items():
            rs = sorted(rs, key=lambda r: r["bytes_per_frame"])
            style = "o-" if label.startswith("codec") else ("s--" if label.startswith(("jpeg", "webp")) else "^")
            ax.plot([r["bytes_per_frame"] for r in rs], [r[key] for r in rs], style, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("bytes per frame (log)")
        ax.set_ylabel(key.replace("_", " ") + " with uncompressed tokens")
        ax.set_title(ds)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
