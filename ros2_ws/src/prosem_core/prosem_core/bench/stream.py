"""`prosem bench stream`: the codec against live video codecs on a moving camera, per byte and per answer.

Sequence: the link benchmark's camera (bench.camera_sequence: 640x480, panning over natural photos,
a new scene every 4 s, sensor noise; seeded), `frames` frames at `fps`.
Reference: the default model on the uncompressed frame (ONNX encoder -> tokens [49, 1280] ->
answerer.answer(tokens, "what is in the image?")); its label (the ImageNet top-1 class) is what
every method must reproduce. Confident frames: the reference top-1 probability >= confident_prob.
Methods (rows; bytes per frame are everything the method puts on the uplink, averaged over frames):
  codec-keyframe        every frame coded alone, the receiver decodes layers[:k]
  codec-temporal(ki=N)  codec.TemporalEncoder/Decoder, keyframe every N frames, receipts for prefix k
  h264/h265/av1@WxH     live-settings video (bench.stream_video), decoded, then the same encoder
                        reads the decoded frame; at 640x480 and at 224x224 (resized before coding:
                        what the encoder reads anyway, so a careful video user would send that)
Per row: answer (label) agreement over all frames and over confident frames, the MiniLM cosine of the
answered label to the reference label (1 when equal; the class-name vectors are the answerer's own,
so it costs nothing), the bytes a question about one frame needs, and the cost after a loss
(models in stream_metrics.video_loss_cost and stream_codec.loss_cost, summarised in meta).
"""
from __future__ import annotations

import hashlib
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from prosem_core.bench.stream_metrics import TARGETS, compare, video_loss_cost, where_video_wins, wilson_interval

DEFAULT_QUALITIES: dict[str, tuple[int, ...]] = {
    # CRF sweeps spanning ~100 B to tens of KB per frame at 224x224 and 640x480 (the codec's
    # layers span ~600 B to ~8 KB), so every curve crosses the codec's range.
    "h264": (51, 45, 40, 35, 30, 26, 22, 18),
    "h265": (51, 45, 40, 35, 30, 26, 22, 18),
    "av1": (63, 56, 49, 42, 35, 28, 21, 14),
}
SIZES = {"native": None, "224": 224}

LOSS_MODELS = {
    "codec-keyframe": "measured: the same frames with a loss mask; frames are independent, so a lost frame "
                      "costs that frame only and the next frame answers at its usual bytes",
    "codec-temporal": "measured: the same sender/receiver with a loss mask; the sender keeps coding against the "
                      "newest frame the receiver confirmed (receipts arrive before the next frame), a receiver "
                      "missing a reference asks for a keyframe; extra bytes are against the lossless run",
    "video": "model on the measured stream: a lost frame breaks every frame up to the next keyframe "
             "(wait_for_keyframe, averaged over every loss position with a keyframe after it), or the "
             "receiver requests an IDR that arrives as the next frame (request_idr: one keyframe of this "
             "setting's measured mean size); under random loss a frame answers only if it and every frame "
             "since its keyframe arrived (no IDR requests)",
    "isolated": "codec: one lost frame every `isolated_loss_spacing` frames, run through sender and receiver; video: "
                "each loss position on its own (video_loss_cost), as a loss every few frames would never recover",
    "random": "each frame lost with probability `random_loss` (seeded), whole frames",
}


@dataclass
class StreamBenchConfig:
    frames: int = 300
    fps: float = 5.0
    seed: int = 0
    runtime: str = "onnx"
    codebook: str | None = None  # None: the shipped codebook
    question: str = "what is in the image?"
    confident_prob: float = 0.5
    video_codecs: tuple[str, ...] = ("h264", "h265", "av1")
    sizes: tuple[str, ...] = ("native", "224")
    qualities: dict[str, tuple[int, ...]] = field(default_factory=lambda: dict(DEFAULT_QUALITIES))
    video_keyframe_s: float = 10.0  # live stream: a keyframe every 10 s (plus the encoder's scene cuts)
    temporal_intervals: tuple[int, ...] = (50,)  # codec temporal mode: keyframe every N frames
    # A video sweep stops after a setting costing more than this times the codec's largest bytes/frame.
    video_max_bytes_factor: float = 1.5
    isolated_loss_spacing: int = 7  # co-prime with the keyframe intervals: losses fall at every offset
    random_loss: float = 0.3
    targets: tuple[float, ...] = TARGETS

    def __post_init__(self) -> None:
        if self.frames < 2:
            raise ValueError("need at least 2 frames")
        if not self.fps > 0:
            raise ValueError("fps must be positive")
        bad = [s for s in self.sizes if s not in SIZES]
        if bad:
            raise ValueError(f"unknown sizes {bad}; choose from {', '.join(SIZES)}")
        if any(c not in self.qualities for c in self.video_codecs):
            raise ValueError(f"no quality settings for some of {self.video_codecs}")
        if not self.temporal_intervals or any(int(k) < 1 for k in self.temporal_intervals):
            raise ValueError(f"temporal_intervals must be >= 1 frame each, got {self.temporal_intervals}")
        if not 0 <= self.random_loss < 1 or self.isolated_loss_spacing < 2:
            raise ValueError("random_loss must be within [0, 1) and isolated_loss_spacing >= 2")

    @property
    def video_keyint(self) -> int:
        return max(1, int(round(self.video_keyframe_s * self.fps)))


def quick_config(**overrides) -> StreamBenchConfig:
    """A few frames and two settings per video codec: for tests and smoke runs, not for numbers."""
    base = {"frames": 12, "qualities": {"h264": (45, 30), "h265": (45, 30), "av1": (56, 35)},
            "video_keyframe_s": 1.2, "temporal_intervals": (6,), "isolated_loss_spacing": 5}
    return StreamBenchConfig(**{**base, **overrides})


@dataclass
class StreamRow:
    method: str  # curve name: codec-keyframe, codec-temporal(ki=N), h264@224x224, ...
    kind: str  # codec | video
    setting: str  # k=1.. | crf=..
    size: str  # what is coded: tokens, or the video frame size
    bytes_per_frame: float  # mean over all frames, keyframes included
    steady_bytes_per_frame: float  # mean over frames that are not keyframes (all frames for codec-keyframe)
    agreement_all: float
    agreement_confident: float | None
    label_cosine_all: float
    label_cosine_confident: float | None
    question_bytes: dict
    loss_cost: dict
    extra: dict = field(default_factory=dict)


class AnswerScorer:
    """Answers of the default answerer on tokens, compared with its answers on the uncompressed frames."""

    def __init__(self, answerer, question: str, reference_tokens: np.ndarray, confident_prob: float):
        from prosem_core.models.labels import CATEGORIES

        self.answerer, self.question = answerer, question
        if answerer.route(question) != "open":
            raise ValueError(f"question {question!r} does not go to the open (ImageNet) path")
        self._cache: dict[bytes, str] = {}
        ref = [self._answer(t) for t in reference_tokens]
        self.labels = [label for label, _ in ref]
        self.top1_prob = np.array([p for _, p in ref])
        self.confident = self.top1_prob >= confident_prob
        open_vqa = answerer.open_vqa
        self._vec = {name: open_vqa.name_vecs[len(CATEGORIES) + i] for i, name in enumerate(open_vqa.labels)}

    def _answer(self, tokens: np.ndarray) -> tuple[str, float]:
        ans = self.answerer.answer(tokens, self.question)
        if ans.details.get("intent") != "describe":
            raise ValueError(f"question {self.question!r} is not a describe question (intent {ans.details.get('intent')})")
        return ans.label, float(ans.details["top"][0][1])

    def labels_of(self, tokens: list[np.ndarray | None]) -> list[str | None]:
        """Labels answered for each frame's tokens (None stays None: no answer). Decoding is
        deterministic, so runs that decode the same tokens again (loss runs before their first
        loss, keyframe frames) are answered from a cache keyed by the tokens' bytes."""
        out: list[str | None] = []
        for t in tokens:
            if t is None:
                out.append(None)
                continue
            key = hashlib.blake2b(np.ascontiguousarray(t).tobytes(), digest_size=16).digest()
            if key not in self._cache:
                self._cache[key] = self._answer(t)[0]
            out.append(self._cache[key])
        return out

    def score(self, labels: list[str | None]) -> dict:
        """Agreement and label cosine over the frames that have an answer (all, and confident ones)."""
        have = np.array([lab is not None for lab in labels])
        same = np.array([lab == ref for lab, ref in zip(labels, self.labels)])
        cos = np.array([1.0 if lab == ref else (float(self._vec[lab] @ self._vec[ref]) if lab is not None else np.nan)
                        for lab, ref in zip(labels, self.labels)])

        def mean(values: np.ndarray, mask: np.ndarray) -> float | None:
            return float(values[mask].mean()) if mask.any() else None

        conf = have & self.confident
        return {"agreement_all": mean(same, have), "agreement_confident": mean(same, conf),
                "agreement_all_ci95": wilson_interval(int(same[have].sum()), int(have.sum())),
                "agreement_confident_ci95": wilson_interval(int(same[conf].sum()), int(conf.sum())),
                "label_cosine_all": mean(cos, have), "label_cosine_confident": mean(cos, conf),
                "answered": int(have.sum()), "answered_confident": int(conf.sum())}


def _blas_threads() -> dict:
    """BLAS pool sizes in effect (threadpoolctl when installed) and the environment that sets them."""
    env = {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {"env": env}
    return {"env": env, "pools": [{"library": os.path.basename(p["filepath"]), "threads": p["num_threads"]}
                                  for p in threadpool_info()]}


def _loss_masks(cfg: StreamBenchConfig, n: int) -> dict[str, np.ndarray]:
    isolated = np.zeros(n, bool)
    isolated[cfg.isolated_loss_spacing // 2::cfg.isolated_loss_spacing] = True
    random = np.random.default_rng((cfg.seed, 7)).random(n) < cfg.random_loss
    return {"isolated": isolated, "random": random}


def _scored(scorer: AnswerScorer, labels: list[str | None]) -> tuple[dict, dict]:
    """(StreamRow agreement fields, their 95 % intervals for `extra`)."""
    score = scorer.score(labels)
    fields = {k: score[k] for k in ("agreement_all", "agreement_confident", "label_cosine_all", "label_cosine_confident")}
    return fields, {"agreement_ci95": {"all": score["agreement_all_ci95"], "confident": score["agreement_confident_ci95"]},
                    "frames_answered": score["answered"], "confident_frames_answered": score["answered_confident"]}


def _answered_agreement(scorer: AnswerScorer, labels: list[str | None]) -> dict:
    score = scorer.score(labels)
    return {"answered_agreement_all": score["agreement_all"], "answered_agreement_confident": score["agreement_confident"]}


def _codec_rows(cfg: StreamBenchConfig, codec, tokens: np.ndarray, scorer: AnswerScorer, progress) -> list[StreamRow]:
    from prosem_core.bench.stream_codec import keyframe_layers, keyframe_stream, loss_cost, question_bytes, temporal_stream

    masks = _loss_masks(cfg, len(tokens))
    encoded = keyframe_layers(codec, tokens)
    runs: list[tuple[str, Callable]] = [("codec-keyframe", lambda k, lost=None: keyframe_stream(codec, encoded, k, lost=lost))]
    for ki in cfg.temporal_intervals:
        runs.append((f"codec-temporal(ki={ki})",
                     lambda k, lost=None, ki=ki: temporal_stream(codec, tokens, k, ki, lost=lost)))
    rows = []
    for method, run in runs:
        for k in range(1, codec.layer_count + 1):
            frames = run(k)
            if any(f.tokens is None for f in frames):
                raise RuntimeError(f"{method} k={k}: a frame did not decode without loss")
            fields, extra = _scored(scorer, scorer.labels_of([f.tokens for f in frames]))
            sent = np.array([f.bytes_sent for f in frames], dtype=np.float64)
            nonkey = np.array([not f.keyframe for f in frames])
            qb = question_bytes(frames)
            losses = {}
            for name, mask in masks.items():
                lossy = run(k, lost=mask)
                losses[name] = loss_cost(frames, lossy) | _answered_agreement(scorer, scorer.labels_of([f.tokens for f in lossy]))
            rows.append(StreamRow(
                method, "codec", f"k={k}", "tokens 49x1280", float(sent.mean()),
                float(sent[nonkey].mean()) if nonkey.any() else float(sent.mean()),
                question_bytes={"receiver_holds_reference": float(sent.mean()),
                                "cold_mean": float(qb.mean()), "cold_p95": float(np.percentile(qb, 95)),
                                "cold_max": float(qb.max()),
                                "how": "cold = the frame's layers[:k] plus, in temporal mode, those of every frame on its "
                                       "reference chain back to a keyframe (as sent, prefix k each)"},
                loss_cost=losses, extra={"keyframes": int(sum(f.keyframe for f in frames)), **extra}, **fields))
            progress(f"{method} k={k}: {rows[-1].bytes_per_frame:.0f} B/frame, agreement {rows[-1].agreement_all:.3f}")
    return rows


def _video_rows(cfg: StreamBenchConfig, frames: list[np.ndarray], encoder, scorer: AnswerScorer, max_bytes: float,
                progress) -> tuple[list[StreamRow], list[str]]:
    """Rows of every video codec, size and quality; a sweep (coarse to fine) stops once a setting
    costs more than max_bytes per frame: finer settings only cost more. Returns (rows, skipped)."""
    from prosem_core.bench.stream_metrics import bytes_since_keyframe, loss_events, video_answered
    from prosem_core.bench.stream_video import decode_stream, encode_frames, psnr
    from prosem_core.models.preprocess import resize_rgb

    masks = _loss_masks(cfg, len(frames))
    rows, skipped = [], []
    for size in cfg.sizes:
        side = SIZES[size]
        src = frames if side is None else [resize_rgb(f, side) for f in frames]
        label = f"{src[0].shape[1]}x{src[0].shape[0]}"
        for name in cfg.video_codecs:
            for qi, q in enumerate(cfg.qualities[name]):
                if rows and rows[-1].method == f"{name}@{label}" and rows[-1].bytes_per_frame > max_bytes:
                    skipped += [f"{name}@{label} crf={rest}" for rest in cfg.qualities[name][qi:]]
                    break
                t0 = time.thread_time()
                stream = encode_frames(src, name, q, cfg.fps, cfg.video_keyint)
                enc_ms = 1e3 * (time.thread_time() - t0) / len(src)
                decoded = decode_stream(stream)
                labels = scorer.labels_of([encoder.encode(d) for d in decoded])
                fields, extra = _scored(scorer, labels)
                fb = stream.frame_bytes.astype(np.float64)
                keys = np.array(stream.keyframe)
                since = bytes_since_keyframe(stream.frame_bytes, stream.keyframe)
                since = since[~np.isnan(since)]
                answered = video_answered(keys, masks["random"])
                losses = {"isolated": video_loss_cost(stream.frame_bytes, stream.keyframe, cfg.fps),
                          "random": loss_events(masks["random"], answered, fb)
                          | _answered_agreement(scorer, [lab if ok else None for lab, ok in zip(labels, answered)])}
                rows.append(StreamRow(
                    f"{name}@{label}", "video", f"crf={q}", label, float(fb.mean()),
                    float(fb[~keys].mean()) if (~keys).any() else float(fb.mean()),
                    question_bytes={"cold_mean": float(since.mean()), "cold_p95": float(np.percentile(since, 95)),
                                    "cold_max": float(since.max()),
                                    "how": "cold = every packet from the last keyframe at or before the frame through the frame"},
                    loss_cost=losses,
                    extra={"keyframes": int(keys.sum()), "keyframe_positions": np.flatnonzero(keys).tolist(),
                           "psnr_db": float(np.mean([psnr(a, b) for a, b in zip(decoded, src)])),
                           "encode_ms_per_frame": enc_ms, **extra}, **fields))
                progress(f"{rows[-1].method} {rows[-1].setting}: {rows[-1].bytes_per_frame:.0f} B/frame, "
                         f"agreement {rows[-1].agreement_all:.3f}")
    return rows, skipped


def curves(rows: list[dict]) -> dict[str, dict]:
    """Rows grouped into curves (one per method) with the fields the summary reads."""
    out: dict[str, dict] = {}
    for r in rows:
        c = out.setdefault(r["method"], {"kind": r["kind"], "points": []})
        c["points"].append({"bytes_per_frame": r["bytes_per_frame"], "question_bytes_cold": r["question_bytes"]["cold_mean"],
                            "agreement_all": r["agreement_all"], "agreement_confident": r["agreement_confident"]})
    return out


def summarize(rows: list[dict], targets=TARGETS, frames: int | None = None, confident: int | None = None) -> dict:
    """The issue's goal, checked on this run's rows: bytes per frame each curve needs at each target
    agreement (all frames, confident frames), the best codec curve over the best video curve, the
    same for the bytes of a question about one frame, and the agreement levels where video wins."""
    cs = curves(rows)
    grid = [round(x, 2) for x in np.arange(0.80, 0.995, 0.01)]
    per_frame = compare(cs, targets)
    per_question = compare(cs, targets, x="question_bytes_cold", unit="B per question")
    video_wins = {key: where_video_wins(cs, key, grid) for key in ("agreement_all", "agreement_confident")}
    statements = []
    for key, label in (("agreement_all", "all frames"), ("agreement_confident", "confident frames")):
        for t, v in per_frame[key].items():
            statements.append(f"{label}, agreement {t}: {v['verdict']}")
        wins = video_wins[key]
        statements.append(f"{label}: video needs fewer bytes/frame (or is the only one to reach it) at agreement levels "
                          f"{wins}" if wins else f"{label}: the codec is ahead at every level 0.80-0.99 it or video reaches")
    ahead = all(not w for w in video_wins.values()) and all(
        v["best_codec"] is not None or v["best_video"] is None for d in per_frame.values() for v in d.values())
    if frames:
        statements.append(f"resolution: agreement over {frames} frames ({confident} confident); one frame moves it by "
                          f"{1 / frames:.4f} ({1 / max(confident or 1, 1):.4f} on confident frames), and the 95 % interval of "
                          "each row is in its extra.agreement_ci95: differences of a few frames are noise")
    return {"goal": "ahead of the best video codec at every agreement level, confident frames included",
            "goal_met": bool(ahead), "bytes_per_frame_at_target": per_frame,
            "question_bytes_at_target": per_question, "video_wins_at_levels": video_wins,
            "level_grid": grid, "statements": statements}


def run(cfg: StreamBenchConfig, log: Callable[[str], None] = print) -> dict:
    from prosem_core.bench.camera_sequence import CameraConfig, CameraSequence
    from prosem_core.bench.stream_video import check_available, encoder_settings, library_versions
    from prosem_core.pipeline import default_pipeline

    check_available(list(cfg.video_codecs))
    t_start = time.monotonic()
    load_start = os.getloadavg()
    pipe = default_pipeline(runtime=cfg.runtime, codebook=cfg.codebook)
    cam_cfg = CameraConfig(fps=cfg.fps, seed=cfg.seed)
    cam = CameraSequence(cam_cfg)
    frames = [cam.frame(i) for i in range(cfg.frames)]
    tokens = np.stack([pipe.encoder.encode(f) for f in frames]).astype(np.float32)
    scorer = AnswerScorer(pipe.answerer, cfg.question, tokens, cfg.confident_prob)
    log(f"reference: {cfg.frames} frames, {int(scorer.confident.sum())} confident, "
        f"labels {sorted(set(scorer.labels))[:6]}")
    rows = _codec_rows(cfg, pipe.codec, tokens, scorer, log)
    max_video_bytes = cfg.video_max_bytes_factor * max(r.bytes_per_frame for r in rows)
    video_rows, skipped = _video_rows(cfg, frames, pipe.encoder, scorer, max_video_bytes, log)
    rows += video_rows
    row_dicts = [asdict(r) for r in rows]
    import onnxruntime

    meta = {
        "machine": {"host": platform.node(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_avg_start": list(load_start), "load_avg_end": list(os.getloadavg()),
                    "blas_threads": _blas_threads()},
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "onnxruntime": onnxruntime.__version__,
                     **library_versions()},
        "sequence": {"generator": "prosem_core.bench.camera_sequence", "camera": asdict(cam_cfg), "frames": cfg.frames,
                     "seconds": cfg.frames / cfg.fps,
                     "scenes": [cam.scene_of(i) for i in range(0, cfg.frames, int(cfg.fps * cam_cfg.scene_s))]},
        "reference": {"runtime": cfg.runtime, "question": cfg.question, "confident_prob": cfg.confident_prob,
                      "confident_frames": int(scorer.confident.sum()), "labels": sorted(set(scorer.labels)),
                      "metric": "label (ImageNet top-1 class) of answerer.answer(tokens, question) equal to its label on the "
                                "uncompressed frame's tokens; label_cosine: MiniLM cosine of the two class names"},
        "codec": {"codebook_id": pipe.codec.codebook_id, "layer_count": pipe.codec.layer_count,
                  "layer_budgets": list(pipe.codec.config.layer_budgets),
                  "bytes": "layers as produced, 31-byte headers included"},
        "video": {"keyframe_interval_frames": cfg.video_keyint,
                  "sweep_stop_bytes_per_frame": max_video_bytes, "skipped_settings": skipped,
                  "qualities": {c: list(cfg.qualities[c]) for c in cfg.video_codecs},
                  "settings": {c: encoder_settings(c, 0, cfg.video_keyint) | {"crf": "<setting>"} for c in cfg.video_codecs},
                  "bytes": "encoder packets as produced (parameter sets in-band in keyframes), no container or RTP overhead"},
        "loss_models": LOSS_MODELS,
        "config": asdict(cfg),
    }
    report = {"meta": meta, "rows": row_dicts,
              "summary": summarize(row_dicts, cfg.targets, cfg.frames, int(scorer.confident.sum()))}
    meta["runtime_s"] = round(time.monotonic() - t_start, 1)
    return report


def headline(report: dict) -> str:
    """The summary in plain text: per target, bytes/frame and bytes for one question, best codec vs best video."""
    s = report["summary"]
    lines = []
    tables = (("bytes per frame", s["bytes_per_frame_at_target"]), ("bytes for one question (cold)", s["question_bytes_at_target"]))
    for what, table in tables:
        for key, label in (("agreement_all", "all frames"), ("agreement_confident", "confident frames")):
            lines.append(f"{what}, {label}:")
            lines += [f"  {t}: {v['verdict']}" for t, v in table[key].items()]
    wins = s["video_wins_at_levels"]
    lines.append(f"video wins (bytes/frame) at agreement levels: all {wins['agreement_all']}, confident {wins['agreement_confident']}")
    return "\n".join(lines)


def plot(report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (("bytes_per_frame", "agreement_all", "all frames"),
              ("bytes_per_frame", "agreement_confident", "confident frames (reference top-1 >= 0.5)"),
              ("question_bytes_cold", "agreement_all", "one question, receiver holds nothing"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.8))
    for ax, (x, y, title) in zip(axes, panels):
        for name, c in curves(report["rows"]).items():
            pts = sorted((p[x], p[y]) for p in c["points"] if p[y] is not None)
            if not pts:
                continue
            style = "o-" if c["kind"] == "codec" else ("s--" if "224x224" in name else "^:")
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=name, ms=4)
        for t in report["meta"]["config"]["targets"]:
            ax.axhline(t, color="grey", lw=0.5)
        ax.set_xscale("log")
        ax.set_xlabel(("bytes per frame" if x == "bytes_per_frame" else "bytes to answer about one frame") + " (log)")
        ax.set_ylabel("label agreement with uncompressed")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.set_ylim(0.75, 1.005)  # the targets' region; coarser settings are in the JSON
    axes[0].legend(fontsize=7)
    frames = report["meta"]["sequence"]["frames"]
    fig.suptitle(f"prosem bench stream: {frames} frames, 640x480 camera at {report['meta']['config']['fps']:g} fps")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

