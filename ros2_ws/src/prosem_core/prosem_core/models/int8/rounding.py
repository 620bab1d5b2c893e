"""Choose each int8 weight's rounding (down or up) to minimise the layer's output error.

Nearest rounding minimises each weight's own error, but the output error of a row is D p, and errors
of weights that see correlated inputs add up. Given C = E[p p^T] (`moments`), the mean square output
error of a row is d C d^T with d the row's weight error; this greedy search flips, in every row at
once, the single weight whose other rounding lowers it most, until no flip helps. Each code stays
floor or ceil of the exact value (the int8 range kept), so a weight moves by less than one step: the
same freedom AdaRound uses, searched greedily instead of learned.
"""
from __future__ import annotations

import numpy as np


def output_error(d: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Per-row mean square output error d C d^T; c is [K, K] shared or [O, K, K] per row."""
    if c.ndim == 2:
        return ((d @ c) * d).sum(axis=1)
    return (np.matmul(c, d[:, :, None])[:, :, 0] * d).sum(axis=1)


def least_squares_rounding(w: np.ndarray, scale: np.ndarray, c: np.ndarray, qmin: int = -127, qmax: int = 127,
                           max_passes: float = 4.0) -> np.ndarray:
    """w [O, K] float weights, scale [O] per-row step, c the input moments -> int codes [O, K].

    Starts from nearest rounding; stops when no flip lowers any row's error, or after
    max_passes * K flips per row."""
    w = np.asarray(w, np.float64)
    s = np.maximum(np.asarray(scale, np.float64).reshape(-1, 1), 1e-30)
    u = w / s
    lo = np.floor(u)
    hi = lo + 1
    cur = np.clip(np.round(u), qmin, qmax)
    d = (cur - u) * s
    shared = c.ndim == 2
    g = d @ c if shared else np.matmul(c, d[:, :, None])[:, :, 0]  # half the gradient of d C d^T
    diag = np.broadcast_to(np.diag(c), d.shape) if shared else np.einsum("okk->ok", c)
    rows = np.arange(w.shape[0])
    tol = 1e-12 * max(float(np.abs(output_error(d, c)).max()), 1e-30)
    for _ in range(int(max_passes * w.shape[1])):
        alt = np.where(cur == lo, hi, lo)
        step = (alt - cur) * s
        gain = 2 * step * g + step * step * diag  # change of d C d^T if that weight flips
        gain[(alt < qmin) | (alt > qmax)] = np.inf
        j = gain.argmin(axis=1)
        best = gain[rows, j]
        act = best < -tol
        if not act.any():
            break
        r, jj = rows[act], j[act]
        dd = step[r, jj]
        cur[r, jj] = alt[r, jj]
        d[r, jj] += dd
        g[r] += dd[:, None] * (c[jj] if shared else c[r, jj])
    return cur.astype(np.int64)
