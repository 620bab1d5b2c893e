"""Pure arithmetic of `prosem bench stream`: curves, interpolation, question bytes, loss costs, summary.

No models and no codecs here (plain lists and arrays in, plain dicts out), so every rule the
benchmark's verdict rests on is unit-tested with synthetic numbers.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TARGETS = (0.90, 0.95, 0.98)


@dataclass(frozen=True)
class Reach:
    """Bytes a curve needs for an agreement target. at_lowest_setting: the cheapest measured setting
    already reaches the target, so the true need may be lower (the number is an upper bound)."""
    bytes: float
    at_lowest_setting: bool


def wilson_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """95 % Wilson score interval of a proportion (agreement over n frames); None for n = 0."""
    if n <= 0:
        return None
    p = hits / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def upper_envelope(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (bytes, agreement) points no cheaper point matches: sorted by bytes, agreement strictly
    rising. A setting that costs more and agrees less is never the one to use, so it is dropped."""
    out: list[tuple[float, float]] = []
    for x, y in sorted((float(x), float(y)) for x, y in points if y is not None and not math.isnan(y)):
        if x <= 0:
            raise ValueError(f"bytes must be positive, got {x}")
        if not out or y > out[-1][1]:
            if out and x == out[-1][0]:
                out[-1] = (x, y)
            else:
                out.append((x, y))
    return out


def bytes_for_agreement(points: Sequence[tuple[float, float]], target: float) -> Reach | None:
    """Fewest bytes reaching `target` agreement on the curve's upper envelope, interpolated linearly
    in log(bytes) between the last setting below the target and the first at or above it. None when
    no setting reaches the target (no extrapolation beyond the measured range, either way)."""
    env = upper_envelope(points)
    for i, (x, y) in enumerate(env):
        if y >= target:
            if i == 0 or y == target:
                return Reach(x, i == 0)
            x0, y0 = env[i - 1]
            frac = (target - y0) / (y - y0)
            return Reach(float(math.exp(math.log(x0) + frac * (math.log(x) - math.log(x0)))), False)
    return None


def bytes_since_keyframe(frame_bytes: Sequence[int], keyframe: Sequence[bool]) -> np.ndarray:
    """Per frame n: the bytes a decoder joining the stream needs to show frame n, i.e. everything
    from the last keyframe at or before n through n. Frames before the first keyframe cannot be
    decoded by a joining receiver at all: NaN."""
    out = np.full(len(frame_bytes), np.nan)
    acc: float | None = None
    for i, (b, key) in enumerate(zip(frame_bytes, keyframe)):
        acc = float(b) if key else (None if acc is None else acc + b)
        if acc is not None:
            out[i] = acc
    return out


def video_loss_cost(frame_bytes: Sequence[int], keyframe: Sequence[bool], fps: float) -> dict:
    """What it takes to answer again after frame i of a video stream is lost (model, per loss position
    i, averaged uniformly over the positions whose recovery lies inside the measured sequence):

    wait_for_keyframe: every frame after i references the lost one (directly or through the chain),
      so nothing decodes until the next keyframe j > i. Frames without an answer: j - i (the lost
      frame and the broken ones); bytes that must arrive before the next answer: frames i+1..j.
    request_idr: the receiver asks for an IDR at once; with a round trip shorter than a frame interval
      the next frame is an IDR. Frames without an answer: 1; bytes before the next answer: one
      keyframe (mean keyframe size measured in this stream); the IDR costs keyframe - mean
      non-keyframe bytes more than the frame it replaces.
    """
    fb = np.asarray(frame_bytes, dtype=np.float64)
    keys = np.flatnonzero(np.asarray(keyframe, dtype=bool))
    n = len(fb)
    frames, nbytes = [], []
    for i in range(n):
        nxt = keys[keys > i]
        if len(nxt) == 0:
            continue  # the next keyframe lies beyond the measured sequence
        j = int(nxt[0])
        frames.append(j - i)
        nbytes.append(float(fb[i + 1:j + 1].sum()))
    key_mean = float(fb[keys].mean()) if len(keys) else math.nan
    nonkey = np.ones(n, bool)
    nonkey[keys] = False
    p_mean = float(fb[nonkey].mean()) if nonkey.any() else math.nan
    wait = None
    if frames:
        wait = {"frames_without_answer": float(np.mean(frames)), "seconds_without_answer": float(np.mean(frames)) / fps,
                "frames_without_answer_max": int(max(frames)), "bytes_until_next_answer": float(np.mean(nbytes)),
                "loss_positions": len(frames)}
    return {"model": "whole frame lost; video: wait for the next keyframe, or request an IDR (round trip < 1 frame)",
            "wait_for_keyframe": wait,
            "request_idr": {"frames_without_answer": 1.0, "seconds_without_answer": 1.0 / fps,
                            "bytes_until_next_answer": key_mean, "extra_bytes_over_steady_frame": key_mean - p_mean},
            "keyframe_bytes_mean": key_mean, "non_keyframe_bytes_mean": p_mean, "keyframes": int(len(keys))}


def video_answered(keyframe: Sequence[bool], lost: Sequence[bool]) -> np.ndarray:
    """Which frames of a video stream decode when the frames in `lost` never arrive and nobody asks
    for an IDR: a frame needs itself and every frame since its keyframe (inter prediction chains
    through all of them). Frames before the first keyframe never decode."""
    out = np.zeros(len(keyframe), bool)
    intact = False
    for i, (key, gone) in enumerate(zip(keyframe, lost)):
        intact = (not gone) if key else (intact and not gone)
        out[i] = intact
    return out


def loss_events(lost: Sequence[bool], answered: Sequence[bool], frame_bytes: Sequence[float]) -> dict:
    """Per lost frame i: frames until one is answered again (j - i, j the first answered frame after
    i) and the bytes sent for frames i+1..j; losses with no answered frame after them are left out."""
    lost_at = np.flatnonzero(np.asarray(lost, bool))
    ok = np.asarray(answered, bool)
    sent = np.asarray(frame_bytes, dtype=np.float64)
    gaps, nbytes = [], []
    for i in lost_at:
        later = np.flatnonzero(ok[i + 1:])
        if len(later):
            j = int(i) + 1 + int(later[0])
            gaps.append(j - int(i))
            nbytes.append(float(sent[i + 1:j + 1].sum()))
    return {"lost_frames": int(len(lost_at)), "answered_fraction": float(ok.mean()) if len(ok) else None,
            "frames_without_answer": float(np.mean(gaps)) if gaps else None,
            "bytes_until_next_answer": float(np.mean(nbytes)) if nbytes else None}


def chain_bytes(frame_bytes: dict[int, int], reference: dict[int, int | None]) -> dict[int, int]:
    """Bytes a receiver holding nothing needs to decode each frame: its own bytes plus those of its
    reference chain back to a keyframe (reference[n] is None for keyframes). Frames whose chain
    leaves the known frames are left out."""
    out: dict[int, int] = {}

    def total(n: int) -> int | None:
        seen: list[int] = []
        cur: int | None = n
        while cur is not None and cur not in out:
            if cur not in frame_bytes or cur in seen:
                return None
            seen.append(cur)
            cur = reference[cur]
        acc = 0 if cur is None else out[cur]
        for m in reversed(seen):
            acc += frame_bytes[m]
            out[m] = acc
        return out[n]

    for n in frame_bytes:
        total(n)
    return out


def _fmt(name: str, r: Reach) -> str:
    return f"{name} {'<=' if r.at_lowest_setting else ''}{r.bytes:.0f}"


def _verdict(codec: tuple[str, Reach] | None, video: tuple[str, Reach] | None, unit: str = "B/frame") -> str:
    """One line: who needs fewer bytes. '<=' marks a curve whose cheapest setting already reaches the
    target: for the codec that is its floor (it has no smaller prefix), for video a setting coarser
    than any measured might need less, so a codec lead over a '<=' video figure is not established."""
    if codec is None and video is None:
        return "neither reaches it"
    if codec is None:
        return f"video wins: {_fmt(*video)} {unit}, the codec never reaches it"
    if video is None:
        return f"codec wins: {_fmt(*codec)} {unit}, no video setting reaches it"
    ratio = codec[1].bytes / video[1].bytes
    text = f"{'codec ahead' if ratio < 1 else 'video wins'}: {_fmt(*codec)} vs {_fmt(*video)} {unit}, ratio {ratio:.2f}"
    if ratio < 1 and video[1].at_lowest_setting:
        text += " (video's cheapest measured setting already reaches it: the codec's lead may be smaller)"
    return text


def _best(reaches: dict[str, Reach | None]) -> tuple[str, Reach] | None:
    got = [(name, r) for name, r in reaches.items() if r is not None]
    return min(got, key=lambda nr: nr[1].bytes) if got else None


def compare(curves: dict[str, dict], targets: Sequence[float] = TARGETS,
            keys: Sequence[str] = ("agreement_all", "agreement_confident"), x: str = "bytes_per_frame",
            unit: str = "B/frame") -> dict:
    """curves: name -> {"kind": "codec" | "video", "points": [{x: ..., key: ...}, ...]}.

    For each agreement key and target: every curve's bytes (interpolated), the best codec curve and
    the best video curve, their ratio (codec / video: below 1 the codec is ahead) and a plain verdict.
    """
    out: dict = {}
    for key in keys:
        per_target = {}
        for target in targets:
            reach = {name: bytes_for_agreement([(p[x], p[key]) for p in c["points"] if p.get(key) is not None], target)
                     for name, c in curves.items()}
            best_codec = _best({n: r for n, r in reach.items() if curves[n]["kind"] == "codec"})
            best_video = _best({n: r for n, r in reach.items() if curves[n]["kind"] == "video"})
            per_target[f"{target:.2f}"] = {
                "bytes": {n: (None if r is None else round(r.bytes, 1)) for n, r in reach.items()},
                "at_lowest_setting": sorted(n for n, r in reach.items() if r is not None and r.at_lowest_setting),
                "best_codec": None if best_codec is None else best_codec[0],
                "best_video": None if best_video is None else best_video[0],
                "ratio_codec_over_best_video": (round(best_codec[1].bytes / best_video[1].bytes, 3)
                                                if best_codec and best_video else None),
                "verdict": _verdict(best_codec, best_video, unit)}
        out[key] = per_target
    return out


def where_video_wins(curves: dict[str, dict], key: str, levels: Sequence[float], x: str = "bytes_per_frame") -> list[float]:
    """Agreement levels (a fine grid) at which the best video curve needs fewer bytes than the best
    codec curve, or reaches a level the codec never does."""
    wins = []
    for level in levels:
        reach = {n: bytes_for_agreement([(p[x], p[key]) for p in c["points"] if p.get(key) is not None], level)
                 for n, c in curves.items()}
        codec = _best({n: r for n, r in reach.items() if curves[n]["kind"] == "codec"})
        video = _best({n: r for n, r in reach.items() if curves[n]["kind"] == "video"})
        if video is not None and (codec is None or video[1].bytes < codec[1].bytes):
            wins.append(round(float(level), 4))
    return wins
