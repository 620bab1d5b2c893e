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
