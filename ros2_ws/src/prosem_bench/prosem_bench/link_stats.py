"""Summaries for the link benchmark: percentiles, and joining answers to capture stamps."""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def summary(values: Iterable[float]) -> dict:
    """n, median, p95, min, max (NaN-free input; empty -> n=0 and None)."""
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)
    if arr.size == 0:
        return {"n": 0, "median": None, "p95": None, "min": None, "max": None}
    return {"n": int(arr.size), "median": round(float(np.median(arr)), 4), "p95": round(float(np.percentile(arr, 95)), 4),
            "min": round(float(arr.min()), 4), "max": round(float(arr.max()), 4)}


def capture_index(tap_events: list[dict]) -> dict[int, dict]:
    """frame_seq -> {stamp, first_publish_t, payload bytes published per layer} from the edge tap."""
    frames: dict[int, dict] = {}
    for e in tap_events:
        if e.get("ev") != "layer":
            continue
        f = frames.setdefault(e["seq"], {"stamp": e["stamp"], "first_t": e["t"], "layers": {}})
        f["first_t"] = min(f["first_t"], e["t"])
        # A layer pulled again is published again: count every copy that went out.
        f["layers"][e["idx"]] = f["layers"].get(e["idx"], 0) + e["bytes"]
    return frames


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 4)


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (None once it is gone)."""
    from pathlib import Path

    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def memory_trend(samples: list[tuple[float, float]], bound_share: float = 0.02) -> dict:
    """Start/middle/end RSS and the slope over the second half of (seconds, MB) samples, and whether
    it is bounded: the second half grows by at most `bound_share` of its level over its span (a
    leak grows steadily; warm-up growth happens in the first half)."""
    if len(samples) < 10:
        return {"samples": len(samples)}
    arr = np.asarray(samples, dtype=np.float64)
    half = arr[len(arr) // 2:]
    slope = float(np.polyfit(half[:, 0], half[:, 1], 1)[0]) * 60.0
    mid = len(arr) // 2
    span_min = (half[-1, 0] - half[0, 0]) / 60.0
    return {"samples": len(samples), "rss_mb_start": round(float(np.median(arr[:5, 1])), 1),
            "rss_mb_mid": round(float(np.median(arr[mid - 2: mid + 3, 1])), 1),
            "rss_mb_end": round(float(np.median(arr[-5:, 1])), 1),
            "rss_slope_mb_per_min_second_half": round(slope, 2),
            "bounded": bool(slope * span_min <= bound_share * float(half[:, 1].mean()))}
