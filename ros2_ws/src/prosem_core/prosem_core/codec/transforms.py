"""Linear transforms of the codec: an orthonormal spatial pyramid over the token grid and the
downstream model's error metric over channels.

Spatial pyramid. Tokens X [T, D] in `views` blocks of consecutive tokens, each an h x w grid (square
if the tokens per view are a square, else 1 x n, or given) are mapped by an orthonormal T x T matrix B
into levels: level 0 is the mean token (scaled by sqrt(T)), then (views > 1) the contrasts between
the views' means, then the contrasts between the cells of a coarse grid of each view (e.g. 2 x 2),
last the detail inside each cell.
Orthonormality makes squared error add up per coefficient, which is what makes the signalled
fidelity exact and monotone in the number of layers.

Model metric. If the downstream model applies a linear map W [M, D] to each token, an error e costs
||W e||^2 = e^T G e with G = W^T W. We keep the top `rank` eigen-directions of G and add a small
floor (`null_weight` times the mean kept eigenvalue) so directions W ignores still get a few bits
(token cosine stays meaningful). Channel coordinates are y = x A with A = G^(1/2); Euclidean error
in y is model error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def token_grid(tokens: int) -> tuple[int, int]:
    side = math.isqrt(tokens)
    return (side, side) if side * side == tokens else (1, tokens)


def view_grid(tokens: int, views: int = 1, grid: tuple[int, ...] = ()) -> tuple[int, int]:
    """(h, w) of each view's grid; ValueError when the layout does not tile `tokens`."""
    if views < 1 or tokens % views:
        raise ValueError(f"{tokens} tokens do not split into {views} equal views")
    per_view = tokens // views
    if not grid:
        return token_grid(per_view)
    if len(grid) != 2 or grid[0] * grid[1] != per_view:
        raise ValueError(f"grid {tuple(grid)} does not hold the {per_view} tokens of a view")
    return int(grid[0]), int(grid[1])


def _cells(h: int, w: int, split: int) -> np.ndarray:
    """Cell index of every token when the h x w grid is cut into split x split cells."""
    rows = np.concatenate([np.full(len(a), i) for i, a in enumerate(np.array_split(np.arange(h), min(split, h)))])
    cols = np.concatenate([np.full(len(a), i) for i, a in enumerate(np.array_split(np.arange(w), min(split, w)))])
    return (rows[:, None] * min(split, w) + cols[None, :]).reshape(-1)


def _orthonormal_complement(basis: np.ndarray, span: np.ndarray) -> np.ndarray:
    """Orthonormal rows spanning span's row space minus basis's row space (basis rows orthonormal)."""
    resid = span - (span @ basis.T) @ basis if basis.size else span.copy()
    u, s, vt = np.linalg.svd(resid, full_matrices=False)
    keep = s > 1e-8 * max(1.0, s.max(initial=0.0))
    return vt[keep]


def _single_view_basis(h: int, w: int, splits: tuple[int, ...]) -> tuple[np.ndarray, list[slice]]:
    """Pyramid of one h x w grid: its mean, one level per split, per-token detail (rows local to cells)."""
    tokens = h * w
    rows = [np.full((1, tokens), 1.0 / math.sqrt(tokens))]
    slices = [slice(0, 1)]
    for split in splits:
        cells = _cells(h, w, split)
        indicator = np.stack([(cells == c).astype(np.float64) for c in range(cells.max() + 1)])
        new = _orthonormal_complement(np.concatenate(rows), indicator)
        if len(new):
            slices.append(slice(slices[-1].stop, slices[-1].stop + len(new)))
            rows.append(new)
    basis = np.concatenate(rows)
    # Detail: within each finest cell, the contrasts of its tokens (local support).
    finest = _cells(h, w, splits[-1]) if splits else np.zeros(tokens, int)
    detail = []
    for c in range(finest.max() + 1):
        members = np.flatnonzero(finest == c)
        local = np.zeros((len(members), tokens))
        local[np.arange(len(members)), members] = 1.0
        detail.append(_orthonormal_complement(basis, local))
    detail_rows = np.concatenate(detail)
    if len(detail_rows):
        slices.append(slice(len(basis), len(basis) + len(detail_rows)))
        basis = np.concatenate([basis, detail_rows])
    return basis, slices


def pyramid_basis(tokens: int, splits: tuple[int, ...] = (2,), views: int = 1,
                  grid: tuple[int, ...] = ()) -> tuple[np.ndarray, list[slice]]:
    """Orthonormal B [T, T] whose row groups are the pyramid levels; returns (B, level slices).

    Levels: the mean, then (views > 1) the contrasts between the view means, then one level per
    split factor (the cells of that grid in every view, minus coarser levels), then the remaining
    per-token detail. Every row below the view level lives inside one view (rows of view v follow
    those of view v - 1 within a level), and detail rows inside one finest cell.
    """
    h, w = view_grid(tokens, views, grid)
    one, one_slices = _single_view_basis(h, w, splits)
    per = h * w
    if views == 1:
        assert one.shape == (tokens, tokens)
        return one, one_slices
    view_of = np.repeat(np.arange(views), per)
    mean = np.full((1, tokens), 1.0 / math.sqrt(tokens))
    indicator = np.stack([(view_of == v).astype(np.float64) for v in range(views)])
    rows = [mean, _orthonormal_complement(mean, indicator)]
    for sl in one_slices[1:]:
        level = np.zeros((views * (sl.stop - sl.start), tokens))
        for v in range(views):
            level[v * (sl.stop - sl.start):(v + 1) * (sl.stop - sl.start), v * per:(v + 1) * per] = one[sl]
        rows.append(level)
    slices, start = [], 0
    for r in rows:
        slices.append(slice(start, start + len(r)))
        start += len(r)
    basis = np.concatenate(rows)
    assert basis.shape == (tokens, tokens)
    return basis, slices


@dataclass
class ModelMetric:
    """G ~= F F^T + floor * I: F [D, r] holds the kept eigen-directions scaled by sqrt(eigenvalue)."""

    factor: np.ndarray  # [D, r]
    floor: float

    def __post_init__(self) -> None:
        self.factor32 = np.ascontiguousarray(self.factor, np.float32)

    def sqrt(self) -> tuple[np.ndarray, np.ndarray]:
        """A = G^(1/2) (symmetric) and its inverse, for building the codec's matrices.

        With F = U S (thin SVD): G = U S^2 U^T + floor I, so A = sqrt(floor) I + U (sqrt(S^2 + floor)
        - sqrt(floor)) U^T; no D x D decomposition needed."""
        d = self.factor.shape[0]
        u, s, _ = np.linalg.svd(self.factor, full_matrices=False)
        root, eig = math.sqrt(self.floor), s ** 2 + self.floor
        a = root * np.eye(d) + (u * (np.sqrt(eig) - root)) @ u.T
        a_inv = np.eye(d) / root + (u * (1.0 / np.sqrt(eig) - 1.0 / root)) @ u.T
        return a, a_inv

    def energy(self, z: np.ndarray) -> float:
        """sum over rows of z G z^T, cheap when r << D."""
        e = self.floor * float(np.einsum("ij,ij->", z, z))
        if self.factor.shape[1]:
            p = z @ self.factor
            e += float(np.einsum("ij,ij->", p, p))
        return e


def model_spectrum(model, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Eigenvalues (descending, mean 1) and eigenvectors of W^T W for model=None | W [M, D] |
    obj.first_linear_map(); None for no model."""
    if model is None:
        return None
    w = model.first_linear_map() if hasattr(model, "first_linear_map") else model
    w = np.asarray(w, np.float64)
    if w.ndim != 2 or w.shape[1] != dim or not np.isfinite(w).all():
        raise ValueError(f"model linear map must be a finite [M, {dim}] array, got shape {w.shape}")
    eig, vec = np.linalg.eigh(w.T @ w)
    eig, vec = eig[::-1].clip(min=0), vec[:, ::-1]
    if eig[0] <= 0:
        raise ValueError("model linear map is zero")
    return eig / eig.mean(), vec  # scale-free: a model and 10x that model give the same codec


def metric_from_spectrum(spectrum, dim: int, rank: int, null_weight: float) -> ModelMetric:
    """Keep the top `rank` eigen-directions; the rest get null_weight x the mean kept eigenvalue."""
    if spectrum is None:
        return ModelMetric(np.zeros((dim, 0), np.float32), 1.0)
    eig, vec = spectrum
    r = int(min(rank, np.count_nonzero(eig > 1e-9 * eig[0])))
    floor = null_weight * float(eig[:r].mean())
    return ModelMetric((vec[:, :r] * np.sqrt(eig[:r])).astype(np.float32), floor)


def metric_from_model(model, dim: int, rank: int, null_weight: float) -> ModelMetric:
    return metric_from_spectrum(model_spectrum(model, dim), dim, rank, null_weight)
