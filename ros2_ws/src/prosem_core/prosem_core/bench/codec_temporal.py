"""Temporal section of `prosem bench codec`: uplink bytes per frame of temporal coding vs keyframes only.

Sequence: bench/camera_sequence.py (640x480, 5 fps, panning over photos, a scene cut every 4 s),
encoded by the default encoder; plus a still camera (frame 0 again and again, fresh sensor noise).
Simulated link: the sender sends the first k layers of every frame; each layer is dropped
independently with probability `loss` (seeded, the same drops for every mode); the receiver's
prefix is the layers before the first drop; its receipt (frame, prefix) reaches the sender
`delay` frames later (0 and 1 are measured). A frame whose base layer is lost is never confirmed, so the sender
keeps coding against an older confirmed frame (or a keyframe when none is recent enough).
Modes, each with the codec's TemporalEncoder / TemporalDecoder:
    keyframes       every frame a keyframe (what the edge sends today)
    temporal-base   the nodes' protocol: reference = decode of the base layer (reference_layers=1)
    temporal-prefix reference = decode of all k layers sent (reference_layers=k; confirmed only when
                    all k arrived): the alternative argued for in the report
Agreement, per frame, of what the receiver can answer with at that frame (its newest decodable
frame, which is stale when the current one was lost) against the uncompressed tokens of the
current frame: ImageNet top-1 of the mean token (the open-question path) and the easy-VQA answer
head on two shape/colour questions (which "applies" only in the sense that the head runs; the
frames are natural photos). Bytes: everything the sender put on the link, headers included.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prosem_core.codec.temporal import DEFAULT_CUT_THRESHOLD, DEFAULT_KEYFRAME_INTERVAL

QUESTIONS = ("what shape is in the image?", "what color is the shape?")


@dataclass
class TemporalBenchConfig:
    frames: int = 200           # camera frames (40 s at 5 fps: 10 scene cuts)
    still_frames: int = 20
    losses: tuple[float, ...] = (0.0, 0.3)
    # Frames between a frame and its receipt reaching the sender: 0 = before the next frame is coded
    # (round trip under 200 ms at 5 fps, a normal link); 1 = one frame later (a slow link).
    feedback_delays: tuple[int, ...] = (0, 1)
    keyframe_interval: int = DEFAULT_KEYFRAME_INTERVAL
    cut_threshold: float = DEFAULT_CUT_THRESHOLD
    seed: int = 0


def camera_tokens(encoder, frames: int, still: bool = False) -> tuple[np.ndarray, list[str]]:
    """Tokens of the camera sequence's first `frames` frames and each frame's scene name. still=True:
    the camera holds still on frame 0 (each frame differs only by fresh sensor noise)."""
    from prosem_core.bench.camera_sequence import CameraConfig, CameraSequence

    seq = CameraSequence(CameraConfig(noise_sd=0.0) if still else CameraConfig())
    if still:
        rng = np.random.default_rng(1)
        base = seq.frame(0).astype(np.float32)
        sd = CameraConfig().noise_sd
        images = [np.clip(base + rng.normal(0, sd, base.shape), 0, 255).astype(np.uint8) for _ in range(frames)]
        return encoder.encode_batch(images).astype(np.float32), [seq.scene_of(0)] * frames
    images = [seq.frame(i) for i in range(frames)]
    return encoder.encode_batch(images).astype(np.float32), [seq.scene_of(i) for i in range(frames)]


def _drops(frames: int, layers: int, loss: float, seed: int) -> np.ndarray:
    """[frames, layers] True where the layer is lost (the same for every mode at one loss level)."""
    return np.random.default_rng((seed, int(loss * 1000))).random((frames, layers)) < loss


def simulate(ae, tokens: np.ndarray, mode: str, loss: float, cfg: TemporalBenchConfig, sent: int,
             score, delay: int = 0) -> dict:
    """Run one mode over the sequence with `sent` layers sent per frame. For every prefix k <= sent
    (the receiver then holds the first min(k, arrived) layers) score(k, i, tokens or None) gets what
    the receiver decodes of frame i, None when nothing of it decodes. The sender's behaviour does
    not depend on k for `keyframes` and `temporal-base` (a base-layer receipt is all they use), so one
    run serves every k; `temporal-prefix` needs its own run per k (sent = k = reference layers)."""
    from prosem_core.codec import CodecError, TemporalDecoder, TemporalEncoder, read_header

    n = len(tokens)
    drops = _drops(n, ae.layer_count, loss, cfg.seed)
    tx = TemporalEncoder(ae, keyframe_interval=1 if mode == "keyframes" else cfg.keyframe_interval,
                         cut_threshold=cfg.cut_threshold, reference_layers=sent if mode == "temporal-prefix" else 1)
    rx = TemporalDecoder(ae)
    pending: list[tuple[int, str, int, int]] = []  # (due frame, kind, seq, prefix) feedback in flight
    sizes, keys, errors = [], 0, 0
    for i in range(n):
        for _, kind, seq, prefix in [p for p in pending if p[0] <= i]:
            if kind == "keyframe":
                tx.request_keyframe()
            else:
                tx.confirm(seq, layers=prefix)
        pending = [p for p in pending if p[0] > i]
        layers = tx.encode(tokens[i], i)[:sent]
        h = read_header(layers[0])
        keys += h.keyframe
        sizes.append([len(b) for b in layers])
        lost = np.flatnonzero(drops[i, :sent])
        arrived = int(lost[0]) if lost.size else sent
        ref = None
        if arrived:
            try:
                rx.decode(layers[:arrived])
                ref = None if h.keyframe else (h.ref_frame_seq, rx.reference_tokens(h.ref_frame_seq, h.ref_layers))
                pending.append((i + 1 + delay, "receipt", i, arrived))
            except CodecError:
                arrived = 0
                errors += 1
                pending.append((i + 1 + delay, "keyframe", i, 0))
        for k in range(1, sent + 1):
            p = min(k, arrived)
            score(k, i, ae.decode(layers[:p], reference=ref) if p else None)
    return {"layer_bytes": np.asarray(sizes, float), "keyframes": keys, "errors": errors}


class _Scores:
    """Per prefix k: what the receiver can answer with at each frame (its newest decoded frame)."""

    def __init__(self, n: int, ks, ref_top1: np.ndarray, ref_answers: np.ndarray, fc, answerer):
        self.ref_top1, self.ref_answers, self.fc, self.answerer = ref_top1, ref_answers, fc, answerer
        self.top1 = {k: np.full(n, -1) for k in ks}
        self.words = {k: np.full((n, len(QUESTIONS)), "", dtype=object) for k in ks}
        self.fresh = {k: np.zeros(n, bool) for k in ks}

    def __call__(self, k: int, i: int, toks: np.ndarray | None) -> None:
        if toks is None:  # nothing of frame i decodes: answer from the newest frame that did
            if i:
                self.top1[k][i], self.words[k][i] = self.top1[k][i - 1], self.words[k][i - 1]
            return
        self.fresh[k][i] = True
        self.top1[k][i] = int((toks.mean(axis=0) @ self.fc[0].T + self.fc[1]).argmax())
        self.words[k][i] = _answers(toks[None], self.answerer)[0]

    def agreement(self, k: int) -> tuple[float, float, float]:
        top1 = float(np.mean(self.top1[k] == self.ref_top1))
        ans = float(np.mean(np.all(self.words[k] == self.ref_answers, axis=1)))
        return top1, ans, float(np.mean(self.fresh[k]))


def _answers(toks: np.ndarray, answerer) -> np.ndarray:
    n = len(toks)
    index = np.repeat(np.arange(n), len(QUESTIONS))
    words, _ = answerer.answer_shapes_batch(toks, list(QUESTIONS) * n, image_index=index)
    return np.asarray(words).reshape(n, len(QUESTIONS))


def run_temporal(ae, encoder, answerer, fc, cfg: TemporalBenchConfig, progress=lambda _: None) -> dict:
    tokens, scenes = camera_tokens(encoder, cfg.frames)
    ref_top1 = (tokens.mean(axis=1) @ fc[0].T + fc[1]).argmax(axis=1)
    ref_answers = _answers(tokens, answerer)
    nl = ae.layer_count
    rows = []
    for loss in cfg.losses:
        # keyframes do not depend on feedback; the alternative protocol is run at the first delay only
        runs = [("keyframes", nl, range(1, nl + 1), cfg.feedback_delays[0])]
        runs += [("temporal-base", nl, range(1, nl + 1), d) for d in cfg.feedback_delays]
        runs += [("temporal-prefix", k, [k], cfg.feedback_delays[0]) for k in range(2, nl + 1)]
        for mode, sent, ks, delay in runs:
            scores = _Scores(len(tokens), range(1, sent + 1), ref_top1, ref_answers, fc, answerer)
            r = simulate(ae, tokens, mode, loss, cfg, sent, scores, delay)
            for k in ks:
                top1, ans, fresh = scores.agreement(k)
                rows.append({"loss": loss, "delay": delay, "k": k, "mode": mode,
                             "bytes_per_frame": float(r["layer_bytes"][:, :k].sum(axis=1).mean()),
                             "top1_agreement": top1, "answer_head_agreement": ans, "frames_decoded": fresh,
                             "keyframes": r["keyframes"], "keyframe_requests": r["errors"]})
            progress(1)
    still_tokens, _ = camera_tokens(encoder, cfg.still_frames, still=True)
    still = {mode: _layer_bytes(ae, still_tokens, mode, cfg) for mode in ("keyframes", "temporal-base", "temporal-prefix")}
    return {"config": dict(cfg.__dict__), "frames": cfg.frames, "scenes": sorted(set(scenes)), "rows": rows,
            "matched": _matched(rows), "cut_measure": _cut_measure(ae, tokens, scenes), "still": still}


def _layer_bytes(ae, tokens: np.ndarray, mode: str, cfg: TemporalBenchConfig) -> dict:
    """Mean bytes of each layer over a still camera after its first frame (every layer arrives)."""
    from prosem_core.codec import TemporalEncoder

    ref_layers = ae.layer_count if mode == "temporal-prefix" else 1
    tx = TemporalEncoder(ae, keyframe_interval=1 if mode == "keyframes" else cfg.keyframe_interval,
                         cut_threshold=cfg.cut_threshold, reference_layers=ref_layers)
    sizes = []
    for i, x in enumerate(tokens):
        layers = tx.encode(x, i)
        tx.confirm(i, layers=len(layers))
        if i:
            sizes.append([len(b) for b in layers])
    per_layer = np.mean(sizes, axis=0)
    return {"bytes_per_layer": [round(float(v), 1) for v in per_layer], "bytes_per_frame": round(float(per_layer.sum()), 1)}


def _cut_measure(ae, tokens: np.ndarray, scenes: list[str]) -> dict:
    """Change measure of each frame against the previous frame's base-layer decode, split into
    frames of the same scene and frames right after a cut: where the threshold must fall."""
    within, cuts = [], []
    for i in range(1, len(tokens)):
        prev = ae.decode(ae.encode(tokens[i - 1], i - 1)[:1])
        _, change = ae.encode_against(tokens[i], i, (i - 1, prev))
        (cuts if scenes[i] != scenes[i - 1] else within).append(change)
    q = [0.5, 0.9, 0.99, 1.0]
    return {"within_scene_quantiles": dict(zip(map(str, q), np.quantile(within, q).round(4).tolist())),
            "at_cut_min": float(np.min(cuts)) if cuts else None, "cuts": len(cuts),
            "at_cut_values": [round(float(c), 4) for c in cuts]}


def _frontier(rows: list[dict], agreement: float, slack: float) -> dict | None:
    """The cheapest row whose top-1 agreement is at least agreement - slack."""
    ok = [r for r in rows if r["top1_agreement"] >= agreement - slack]
    return min(ok, key=lambda r: r["bytes_per_frame"]) if ok else None


def _matched(rows: list[dict]) -> dict:
    """Per loss and feedback delay, for each keyframe-only operating point's top-1 agreement a: the
    cheapest keyframe point reaching a and the cheapest temporal point (of one mode, any prefix)
    reaching a - 0.01; their bytes ratio. Frontier against frontier: neither side pays for layers
    the answer does not need. `at_base_layer` is the operating point of open questions (what the
    ImageNet head needs: the keyframe base layer); `worst` is over every keyframe operating point.
    Also the same-prefix comparison (bytes and both agreements at equal k)."""
    out: dict = {}
    for loss in sorted({r["loss"] for r in rows}):
        at = [r for r in rows if r["loss"] == loss]
        keyrows = [r for r in at if r["mode"] == "keyframes"]
        for mode in ("temporal-base", "temporal-prefix"):
            for delay in sorted({r["delay"] for r in at if r["mode"] == mode}):
                mode_rows = [r for r in at if r["delay"] == delay and (r["mode"] == mode or (r["mode"] == "temporal-base" and r["k"] == 1))]
                frontier, same_k = {}, {}
                for key in keyrows:
                    kf = _frontier(keyrows, key["top1_agreement"], 0.0)
                    tf = _frontier(mode_rows, key["top1_agreement"], 0.01)
                    frontier[f"k={key['k']}"] = None if tf is None else {
                        "keyframe_top1": key["top1_agreement"], "keyframe_k": kf["k"], "keyframe_bytes": kf["bytes_per_frame"],
                        "temporal_k": tf["k"], "temporal_bytes": tf["bytes_per_frame"], "temporal_top1": tf["top1_agreement"],
                        "ratio": round(tf["bytes_per_frame"] / kf["bytes_per_frame"], 3)}
                    twin = next((r for r in mode_rows if r["k"] == key["k"]), None)
                    if twin:
                        same_k[f"k={key['k']}"] = {
                            "ratio": round(twin["bytes_per_frame"] / key["bytes_per_frame"], 3),
                            "top1": [key["top1_agreement"], twin["top1_agreement"]],
                            "answer_head": [key["answer_head_agreement"], twin["answer_head_agreement"]]}
                ratios = [v["ratio"] for v in frontier.values() if v]
                base = frontier.get("k=1")
                out[f"loss={loss}:delay={delay}:{mode}"] = {
                    "frontier": frontier, "same_prefix": same_k,
                    "at_base_layer": base["ratio"] if base else None,
                    "worst": max(ratios) if ratios else None}
    return out
