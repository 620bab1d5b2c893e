"""MetaAutoEncoder: training-free, progressive, model-aware codec for visual tokens [T, D].

Pipeline of one frame (all linear maps fitted in closed form by `fit`):
    tokens X [T, D] --B (orthonormal spatial pyramid over the token grid)--> levels Z_l
    Z_l --E_l = A P_l (model metric sqrt, then PCA of calibration data in that space)--> C_l
    C_l --layers: dead-zone uniform quantization of the residual, one step per layer--> ints
    ints --band-wise Golomb-Rice (entropy.py)--> payload, wrapped with header + CRC (layer_format.py)
Decoding runs the same chain backwards from whatever prefix arrived. Squared error in C-space equals
the model-weighted token error (B orthonormal, P orthonormal in A-space), so the encoder knows
exactly how much error remains after each layer and signals it as the layer's fidelity.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .config import CodecConfig
from .entropy import decode_bands, encode_bands, plan_bands
from .errors import CodecError
from .fidelity import fidelity_from_error
from .layer_format import HEADER_SIZE, VERSION, LayerHeader, pack_layer, payload_of, read_header
from .quantization import STEP_EXPONENT_BASE, dequantize, quantize
from .transforms import ModelMetric, metric_from_spectrum, model_spectrum, pyramid_basis

FORMAT_NAME = "prosem-meta-autoencoder"
FORMAT_VERSION = 2
_COMPONENT_EDGES = (0, 1, 2, 4, 8, 16, 32, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)
_MAX_DETAIL_ROWS = 20_000  # calibration rows used for the detail-level PCA (speed)
_ARRAY_NAMES = ("basis", "mean_coefficient", "metric_factor", "coarse_transform", "detail_pca")


def _band_edges(rows: int, comps: int) -> np.ndarray:
    ce = [c for c in _COMPONENT_EDGES if c < comps] + [comps]
    return np.asarray(ce, np.int64) * rows


@dataclass
class _Level:
    rows: slice          # rows of the pyramid basis
    comps: int           # channel components coded (D for coarse levels)
    full: bool           # comps == D: no truncation error
    offset: int          # where the level's coefficients start in a frame's scan vector
    edges: np.ndarray    # entropy-coder band edges in scan order

    @property
    def size(self) -> int:
        return (self.rows.stop - self.rows.start) * self.comps


def _orthonormal_columns(m: np.ndarray) -> np.ndarray:
    """Deterministic orthonormalisation of a stored float16 basis (its columns are orthonormal up
    to float16 rounding): M (L^T)^-1 with L L^T = M^T M, i.e. the Q of a QR with positive diagonal."""
    m = m.astype(np.float32)  # float32 throughout: load time matters (node start-up)
    chol = np.linalg.cholesky(m.T @ m)
    return np.linalg.solve(chol, m.T).T


class MetaAutoEncoder:
    """See the package docstring (prosem_core.codec) for the API."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Build from stored arrays + metadata (use fit() or load(); this is the common path)."""
        try:
            self.config = CodecConfig.from_json(meta["config"])
            self.layer_levels, self.layer_budgets = self.config.plan()
            self.base_steps = [float(s) for s in meta["base_steps"]]
            self.token_shape = (int(meta["tokens"]), int(meta["dim"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CodecError(f"codebook metadata invalid: {exc}") from exc
        self.provenance = dict(meta.get("provenance", {}))
        t, d = self.token_shape
        self._arrays = {k: np.ascontiguousarray(arrays[k]) for k in _ARRAY_NAMES}
        if len(self.base_steps) != len(self.layer_levels) or not all(
                math.isfinite(s) and s > 0 for s in self.base_steps):
            raise CodecError("codebook steps invalid")
        basis = self._arrays["basis"].astype(np.float64)
        shapes_ok = (basis.shape == (t, t) and self._arrays["mean_coefficient"].shape == (d,)
                     and all(self._arrays[k].ndim == 2 and self._arrays[k].shape[0] == d
                             for k in ("metric_factor", "coarse_transform", "detail_pca"))
                     and self._arrays["coarse_transform"].shape == (d, d))
        if not shapes_ok or not all(np.isfinite(v).all() for v in self._arrays.values()):
            raise CodecError("codebook arrays have wrong shapes or non-finite values")
        self.metric = ModelMetric(self._arrays["metric_factor"].astype(np.float64), float(meta["metric_floor"]))
        a, a_inv = (m.astype(np.float32) for m in self.metric.sqrt())
        try:
            _, slices = pyramid_basis(t, self.config.splits, self.config.views, self.config.grid)
        except ValueError as exc:
            raise CodecError(f"codebook token layout invalid: {exc}") from exc
        detail = _orthonormal_columns(self._arrays["detail_pca"])
        self._basis = basis.astype(np.float32)
        weights = self.config.weights()
        if len(weights) != len(slices):
            raise CodecError(f"level_weights needs {len(slices)} values")
        root = np.concatenate([np.full(sl.stop - sl.start, math.sqrt(w), np.float64)
                               for sl, w in zip(slices, weights)])
        # Level weights folded into the basis rows: "scaled" pyramid coefficients Zs = diag(root) B X,
        # whose plain squared error is the weighted error (no per-level scaling per frame). Decoding
        # undoes it in the transposed basis: X = B^T diag(1/root) Zs.
        # Zero rows pad the detail block to a multiple of 16 rows: the detail matmuls run ~10%
        # faster on a whole number of BLAS kernel tiles (45 -> 48 rows for a 7 x 7 grid), and
        # zero rows add nothing to coefficients or energies.
        pad = -(t - slices[-1].start) % 16
        self._code_basis = np.concatenate([root[:, None] * basis, np.zeros((pad, t))]).astype(np.float32)
        self._decode_basis = (basis.T / root[None, :]).astype(np.float32)
        self._levels: list[_Level] = []
        offset = 0
        for i, sl in enumerate(slices):
            comps = detail.shape[1] if i == len(slices) - 1 else d
            n = sl.stop - sl.start
            self._levels.append(_Level(rows=sl, comps=comps, full=comps == d, offset=offset,
                                       edges=_band_edges(n, comps)))
            offset += n * comps
        self._scan_size = offset
        # Coarse levels share one channel transform (full model metric, then PCA; stored as one
        # D x D matrix): one matmul for all their rows, kept transposed because D x D @ D x rows
        # runs ~30% faster than rows x D @ D x D for a handful of rows (memory-bound), and its
        # output [D, rows] is already in scan order (component-major). Its inverse is only
        # needed to decode: computed on first use (an encoder never pays for it).
        self._coarse_rows = slice(0, slices[-1].start)
        self._coarse_encode_t = np.ascontiguousarray(self._arrays["coarse_transform"].astype(np.float32).T)
        self._coarse_decode_t: np.ndarray | None = None
        self._detail_encode = np.ascontiguousarray((a @ detail).astype(np.float32))      # [D, K]
        self._detail_decode = np.ascontiguousarray((detail.T @ a_inv).astype(np.float32))  # [K, D]
        # Each layer's coefficients in the frame's scan vector (a slice when its levels are adjacent)
        # and its entropy-coder band edges (its levels' scans concatenated, band edges offset).
        self._layer_index: list[slice | np.ndarray] = []
        self._layer_edges = []
        for levels in self.layer_levels:
            edges, off = [np.zeros(1, np.int64)], 0
            for lv in levels:
                edges.append(self._levels[lv].edges[1:] + off)
                off += int(self._levels[lv].edges[-1])
            self._layer_edges.append(np.concatenate(edges))
            parts = [np.arange(self._levels[lv].offset, self._levels[lv].offset + self._levels[lv].size)
                     for lv in levels]
            idx = np.concatenate(parts)
            contiguous = bool(np.all(np.diff(idx) == 1))
            self._layer_index.append(slice(int(idx[0]), int(idx[-1]) + 1) if contiguous else idx)
        self._mean_coefficient = self._arrays["mean_coefficient"].astype(np.float32)
        self._mean_scaled = (self._mean_coefficient * np.float32(root[0])).astype(np.float32)
        self._meta = {k: v for k, v in meta.items() if k not in ("codebook_id", "provenance")}
        self.codebook_id = self._content_hash()
        if "codebook_id" in meta and meta["codebook_id"] != self.codebook_id:
            raise CodecError("codebook content does not match its recorded id (file corrupt or edited)")

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, calib_tokens: np.ndarray, model=None, **config) -> MetaAutoEncoder:
        """Closed-form fit from calibration tokens [N, T, D]; `model`: None | W [M, D] | obj with
        first_linear_map(). Config keys: see CodecConfig."""
        try:
            cfg = CodecConfig(**config)
        except TypeError as exc:
            raise ValueError(f"bad codec config: {exc}") from exc
        # The codebook stores its plan explicitly: a later change of default_plan must not change
        # what an existing codebook id means.
        levels, budgets = cfg.plan()
        cfg = dataclasses.replace(cfg, layer_levels=levels, layer_budgets=budgets)
        x = np.asarray(calib_tokens, np.float32)
        if x.ndim != 3 or x.shape[0] < 2 or not np.isfinite(x).all():
            raise ValueError(f"calib_tokens must be a finite [N>=2, T, D] array, got shape {x.shape}")
        n, t, d = x.shape
        # Steps are calibrated on frames the PCA did not see: on seen frames the PCA tail is exactly
        # empty and layers come out smaller than on new frames.
        rng = np.random.default_rng(0)
        order = rng.permutation(n)
        held = order[:min(cfg.step_calibration_frames, n // 4)] if n >= 8 else order
        fit_idx = order[len(held):] if n >= 8 else order
        frames = x[held]
        x = x[np.sort(fit_idx)]
        n = len(x)
        # Coarse levels (the mean token, coarse cells) are what pooled read-outs see: they get the
        # full metric of the model map. The detail level gets its top `metric_rank` directions
        # (a classifier of the mean token cannot see detail; per-token maps have low rank).
        spectrum = model_spectrum(model, d)
        full_metric = metric_from_spectrum(spectrum, d, d, cfg.null_weight)
        metric = metric_from_spectrum(spectrum, d, cfg.metric_rank, cfg.null_weight)
        metric = ModelMetric(metric.factor.astype(np.float16).astype(np.float64), metric.floor)
        basis, slices = pyramid_basis(t, cfg.splits, cfg.views, cfg.grid)
        if len(slices) != cfg.level_count:
            raise ValueError(f"{t} tokens ({cfg.views} views) are too few for the pyramid splits {cfg.splits} "
                             "(need a mean, [view means,] one level per split and a detail level)")
        z = (basis.astype(np.float32) @ x.transpose(1, 0, 2).reshape(t, -1)).reshape(t, n, d).transpose(1, 0, 2)
        mean_coef = z[:, 0].mean(axis=0)

        def cov(rows: np.ndarray, a32: np.ndarray) -> np.ndarray:
            y = rows.astype(np.float32) @ a32
            c = (y.T @ y).astype(np.float64) / len(rows)
            return c / max(np.trace(c), 1e-30)

        a_full = full_metric.sqrt()[0]
        a_full32 = a_full.astype(np.float32)
        coarse_cov = cov(z[:, 0] - mean_coef, a_full32)
        for sl in slices[1:-1]:
            coarse_cov += cov(z[:, sl].reshape(-1, d), a_full32)
        detail_rows = z[:, slices[-1]].reshape(-1, d)
        if len(detail_rows) > _MAX_DETAIL_ROWS:
            detail_rows = detail_rows[rng.choice(len(detail_rows), _MAX_DETAIL_ROWS, replace=False)]
        detail_cov = cov(detail_rows, metric.sqrt()[0].astype(np.float32))
        coarse_pca = np.linalg.eigh(coarse_cov.astype(np.float32))[1][:, ::-1].astype(np.float64)
        detail_pca = np.linalg.eigh(detail_cov.astype(np.float32))[1][:, ::-1][:, :min(cfg.detail_components, d)]
        arrays = {"basis": basis, "mean_coefficient": mean_coef.astype(np.float32),
                  "metric_factor": metric.factor.astype(np.float16),
                  "coarse_transform": (a_full @ coarse_pca).astype(np.float16),
                  "detail_pca": detail_pca.astype(np.float16)}
        meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "tokens": t, "dim": d,
                "config": cfg.to_json(), "metric_floor": metric.floor,
                "base_steps": [1.0] * len(cfg.plan()[0]), "calibration_frames": n}
        ae = cls(arrays, meta)
        ae.base_steps = ae._calibrate_steps(frames)
        ae._meta["base_steps"] = list(ae.base_steps)
        ae.codebook_id = ae._content_hash()
        return ae

    def _calibrate_steps(self, frames: np.ndarray) -> list[float]:
        """Per layer, the smallest step whose layer sizes fit the budget for `budget_quantile` of
        the calibration frames (bisection in log step, layers in order)."""
        coefs = [self._coefficients(f, None)[0] for f in frames]
        recon = [np.zeros_like(c) for c in coefs]
        level_of = [slice(lv.offset, lv.offset + lv.size) for lv in self._levels]
        # floor: a step far below the coefficients' scale buys nothing and risks float underflow
        floor = 1e-6 * max(float(np.sqrt(np.mean([np.mean(c[sl] ** 2) for c in coefs for sl in level_of]))), 1e-30)
        steps = []
        for j, levels in enumerate(self.layer_levels):
            budget = self.layer_budgets[j]
            idx = self._layer_index[j]
            scale = max(float(np.sqrt(np.mean([np.mean((c[level_of[lv]] - rc[level_of[lv]]) ** 2)
                                                for c, rc in zip(coefs, recon) for lv in levels]))), 1e-12)

            def size_quantile(step: float, j: int = j) -> float:
                sizes = [self._layer_size(c, rc, j, step) for c, rc in zip(coefs, recon)]
                return float(np.quantile(sizes, self.config.budget_quantile))

            lo, hi = math.log(scale * 0.03), math.log(scale * 30.0)
            for _ in range(9):
                mid = 0.5 * (lo + hi)
                if size_quantile(math.exp(mid)) > budget:
                    lo = mid
                else:
                    hi = mid
            step = float(np.float32(max(math.exp(hi), floor)))
            steps.append(step)
            for c, rc in zip(coefs, recon):
                rc[idx] += dequantize(quantize(c[idx] - rc[idx], step, self.config.deadzone), step)
        return steps

    def _layer_size(self, coefs: np.ndarray, recon: np.ndarray, j: int, step: float) -> int:
        idx = self._layer_index[j]
        scan = quantize(coefs[idx] - recon[idx], step, self.config.deadzone)
        return HEADER_SIZE + 1 + len(encode_bands(scan, self._layer_edges[j]))

    # ------------------------------------------------------------------ persistence
    def _content_hash(self) -> str:
        h = hashlib.sha256(json.dumps(self._meta, sort_keys=True).encode())
        for name in _ARRAY_NAMES:
            arr = self._arrays[name]
            h.update(name.encode() + str(arr.dtype).encode() + str(arr.shape).encode())
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()[:16]

    @staticmethod
    def _paths(path: str | os.PathLike) -> tuple[str, str]:
        stem = os.fspath(path)
        for ext in (".npz", ".json"):
            if stem.endswith(ext):
                stem = stem[: -len(ext)]
        return stem + ".npz", stem + ".json"

    def save(self, path: str | os.PathLike) -> None:
        """Write PATH.npz (arrays, no pickle) and PATH.json (config, steps, id, provenance)."""
        npz, js = self._paths(path)
        os.makedirs(os.path.dirname(os.path.abspath(npz)), exist_ok=True)
        np.savez_compressed(npz, **self._arrays)
        meta = dict(self._meta, codebook_id=self.codebook_id, provenance=self.provenance)
        with open(js, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1, sort_keys=True)
            f.write("\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> MetaAutoEncoder:
        npz, js = cls._paths(path)
        try:
            with open(js, encoding="utf-8") as f:
                meta = json.load(f)
            with np.load(npz, allow_pickle=False) as data:
                arrays = {k: data[k] for k in _ARRAY_NAMES}
        except FileNotFoundError as exc:
            raise CodecError(f"codebook file missing: {exc.filename}") from exc
        except (OSError, ValueError, KeyError) as exc:
            raise CodecError(f"codebook unreadable ({npz}, {js}): {exc}") from exc
        if meta.get("format") != FORMAT_NAME or meta.get("format_version") != FORMAT_VERSION:
            raise CodecError(f"{js} is not a version {FORMAT_VERSION} {FORMAT_NAME} codebook")
        try:
            return cls(arrays, meta)
        except CodecError:
            raise
        except (ValueError, TypeError, KeyError, ArithmeticError) as exc:  # numpy's LinAlgError is a ValueError
            raise CodecError(f"codebook {npz} is corrupt: {exc}") from exc

    # ------------------------------------------------------------------ encoding
    @property
    def layer_count(self) -> int:
        return len(self.layer_levels)

    def _check_tokens(self, tokens, what: str) -> np.ndarray:
        x = np.asarray(tokens, dtype=np.float32)
        if x.shape != self.token_shape:
            raise CodecError(f"{what} shape {x.shape} != codebook token shape {self.token_shape}")
        if not np.isfinite(x).all():
            raise CodecError(f"{what} contain NaN or inf")
        return x

    def _detail_energy(self, zs: np.ndarray) -> float:
        """Detail-metric energy of scaled detail rows zs [rows, D] (weight folded into the rows)."""
        zs = zs.reshape(-1)
        e = self.metric.floor * float(np.dot(zs, zs))
        if self.metric.factor32.shape[1]:
            p = (zs.reshape(-1, self.token_shape[1]) @ self.metric.factor32).reshape(-1)
            e += float(np.dot(p, p))
        return e

    def _energy(self, zs: np.ndarray) -> float:
        """Weighted model energy of scaled pyramid coefficients zs [T, D] (coarse rows through the
        coarse transform, whose coefficients hold it exactly)."""
        coarse = (self._coarse_encode_t @ zs[self._coarse_rows].T).reshape(-1)
        return float(np.dot(coarse, coarse)) + self._detail_energy(zs[self._coarse_rows.stop:])

    def model_error(self, tokens: np.ndarray, approx: np.ndarray) -> float:
        """The weighted model error the fidelity is defined on: fidelity = 1 - error / energy of the
        frame about the calibration mean (for tests and diagnostics)."""
        return self._energy(self._code_basis @ (np.asarray(tokens, np.float32) - np.asarray(approx, np.float32)))

    def frame_energy(self, tokens: np.ndarray) -> float:
        zs = self._code_basis @ np.asarray(tokens, np.float32)
        zs[0] -= self._mean_scaled
        return self._energy(zs)

    def _coefficients(self, x: np.ndarray, ref: np.ndarray | None) -> tuple[np.ndarray, float, float, float]:
        """The frame's scan vector of coefficients to code (of x - ref, or of x minus the calibration
        mean; each level component-major, the order the entropy coder reads), the weighted model
        energy of x about the calibration mean, the error outside the coded subspace, and the change
        measure: model-weighted energy of the mean token's change (x - ref) over that of x's mean
        token about the calibration mean (1.0 without a reference). The mean token is what a base
        layer reference always holds and what tells scenes apart (pooled read-outs see only it)."""
        zs = self._code_basis @ x
        zs[0] -= self._mean_scaled
        zd = zs if ref is None else self._code_basis @ (x - ref)
        nc = self._coarse_rows.stop
        if ref is None:
            coarse = self._coarse_encode_t @ zd[:nc].T  # [D, coarse rows]
        else:  # the frame's own coarse energy rides along in the same pass over the matrix
            both = self._coarse_encode_t @ np.concatenate([zd[:nc], zs[:nc]]).T
            coarse, own = both[:, :nc], both[:, nc:]
        v = np.empty(self._scan_size, np.float32)
        for lv in self._levels[:-1]:
            v[lv.offset:lv.offset + lv.size] = coarse[:, lv.rows].reshape(-1)
        last = self._levels[-1]
        c = zd[nc:] @ self._detail_encode  # [detail rows (+ zero padding rows), K]
        v[last.offset:] = c[:last.rows.stop - nc].T.reshape(-1)
        detail_energy = self._detail_energy(zd[nc:])
        change = 1.0
        if ref is None:
            energy = float(np.dot(v[:last.offset], v[:last.offset])) + detail_energy
        else:
            mean_own = float(np.dot(own[:, 0], own[:, 0]))
            change = float(np.dot(coarse[:, 0], coarse[:, 0])) / max(mean_own, 1e-30)
            own = own.reshape(-1)
            energy = float(np.dot(own, own)) + self._detail_energy(zs[nc:])
        # error outside the kept detail components (exact: energy minus what the coefficients hold)
        kept = v[last.offset:]
        trunc = 0.0 if last.full else max(detail_energy - float(np.dot(kept, kept)), 0.0)
        return v, energy, trunc, change

    def encode(self, tokens: np.ndarray, frame_seq: int = 0,
               reference: tuple[int, np.ndarray] | None = None, ref_layers: int = 1) -> list[bytes]:
        """Tokens [T, D] -> layers, coarse to fine. With reference=(ref_seq, ref_tokens) the frame is
        coded as a change against ref_tokens, which must be exactly what the receiver holds as the
        decode of `ref_layers` layers of frame ref_seq (both ends run `decode` on the same layers);
        otherwise a keyframe."""
        return self.encode_against(tokens, frame_seq, reference, ref_layers)[0]

    def encode_against(self, tokens: np.ndarray, frame_seq: int, reference: tuple[int, np.ndarray] | None,
                       ref_layers: int = 1, keyframe_above: float | None = None,
                       min_exponents: Sequence[int] | None = None) -> tuple[list[bytes], float]:
        """encode() that also returns the change measure: the model-weighted energy of the mean
        token's change against the reference over the frame's own mean-token energy about the
        calibration mean (0 = same scene, still; about 1 or more = the reference does not help;
        1.0 for keyframes). With keyframe_above set, a frame whose change exceeds it (a scene cut)
        is coded as a keyframe instead; read the layers' headers to see which it became.
        min_exponents (per layer, for a change against a reference): never code a layer with a finer
        step than this (`layer_exponents` of the reference frame), so a change is coded at the
        quality the reference had: a still scene then costs next to nothing instead of refining."""
        x = self._check_tokens(tokens, "tokens")
        if not 0 <= int(frame_seq) <= 0xFFFFFFFF:
            raise CodecError("frame_seq must fit in uint32")
        ref_seq, ref = int(frame_seq), None
        if reference is not None:
            ref_seq, ref = int(reference[0]), self._check_tokens(reference[1], "reference tokens")
            if not 0 <= ref_seq <= 0xFFFFFFFF:
                raise CodecError("reference frame_seq must fit in uint32")
            if not 1 <= int(ref_layers) <= self.layer_count:
                raise CodecError(f"ref_layers must be 1..{self.layer_count}, got {ref_layers}")
        coefs, energy, trunc, change = self._coefficients(x, ref)
        if ref is not None and keyframe_above is not None and change > keyframe_above:
            ref_seq, ref = int(frame_seq), None
            coefs, energy, trunc, _ = self._coefficients(x, None)
        floor_exp = [0] * self.layer_count
        if ref is not None and min_exponents is not None:
            floor_exp = [max(0, min(int(e), 127)) for e in list(min_exponents)[:self.layer_count]]
            floor_exp += [0] * (self.layer_count - len(floor_exp))
        dz = self.config.deadzone
        steps = self.base_steps
        residual = coefs.copy()  # what is still to code, after each layer
        payloads, errs = [], []
        for j, idx in enumerate(self._layer_index):
            budget = self.layer_budgets[j]
            r = residual[idx]
            exponent = floor_exp[j]
            while exponent < 128:
                step = steps[j] * STEP_EXPONENT_BASE ** exponent
                q = quantize(r, step, dz)
                plan = plan_bands(q, self._layer_edges[j])
                size = HEADER_SIZE + 1 + plan.size
                if size <= budget:  # only now are the bits packed
                    payload = struct.pack("<b", exponent) + plan.emit()
                    break
                # bytes fall slower than the step grows: jump by the log of the overshoot
                exponent += max(1, int(math.ceil(2.0 * math.log2(size / budget))))
            else:
                raise CodecError("tokens too large to fit the layer budget")  # pragma: no cover
            residual[idx] = r - dequantize(q, step)
            payloads.append(payload)
            errs.append(trunc + float(np.dot(residual, residual)))
        layers = []
        for j, (payload, err) in enumerate(zip(payloads, errs)):
            header = LayerHeader(version=VERSION, codebook_id=self.codebook_id, frame_seq=int(frame_seq),
                                 layer_index=j, layer_count=self.layer_count, token_shape=self.token_shape,
                                 fidelity=fidelity_from_error(err, energy), keyframe=ref is None,
                                 ref_frame_seq=ref_seq, payload_size=len(payload),
                                 ref_layers=0 if ref is None else int(ref_layers))
            layers.append(pack_layer(header, payload))
        return layers, change

    @staticmethod
    def layer_exponents(layers: Sequence[bytes]) -> list[int]:
        """The step exponent each layer was coded with (its step is base step * 2^(e/4))."""
        out = []
        for layer in layers:
            buf = payload_of(layer)
            if len(buf) < 1:
                raise CodecError("empty layer payload")
            out.append(struct.unpack_from("<b", buf, 0)[0])
        return out

    # ------------------------------------------------------------------ decoding
    def _coarse_decoder(self) -> np.ndarray:
        """Inverse of the coarse transform, transposed (computed on the first decode: a D x D
        inverse takes a good part of a second on a small CPU and an encoder never needs it)."""
        if self._coarse_decode_t is None:
            try:
                inv = np.linalg.inv(self._coarse_encode_t.T.astype(np.float64))
            except np.linalg.LinAlgError as exc:
                raise CodecError(f"codebook coarse transform is singular: {exc}") from exc
            self._coarse_decode_t = np.ascontiguousarray(inv.T.astype(np.float32))
        return self._coarse_decode_t

    def check_prefix(self, layers: Sequence[bytes]) -> list[LayerHeader]:
        """Headers of a valid prefix of one frame's layers for this codebook, or CodecError."""
        if isinstance(layers, (bytes, bytearray)) or not isinstance(layers, Sequence) or len(layers) == 0:
            raise CodecError("need a non-empty list of layers (a prefix of encode()'s output)")
        headers = [read_header(layer) for layer in layers]
        first = headers[0]
        for i, h in enumerate(headers):
            if h.codebook_id != self.codebook_id:
                raise CodecError(f"layer of codebook {h.codebook_id}, this decoder has {self.codebook_id}")
            if h.layer_count != self.layer_count or h.token_shape != self.token_shape:
                raise CodecError("layer count or token shape differs from the codebook")
            if (h.frame_seq, h.keyframe, h.ref_frame_seq) != (first.frame_seq, first.keyframe, first.ref_frame_seq):
                raise CodecError("layers of different frames (or references) mixed")
            if h.layer_index != i:
                raise CodecError(f"layer {i} of the prefix has index {h.layer_index} "
                                 "(missing, duplicated or out-of-order layer)")
        return headers

    def decode(self, layers: Sequence[bytes], reference: tuple[int, np.ndarray] | None = None) -> np.ndarray:
        """Any prefix layers[:k], k >= 1 -> tokens [T, D] float32. Frames coded against a reference
        need the same reference=(ref_seq, ref_tokens) the sender used."""
        headers = self.check_prefix(layers)
        h0 = headers[0]
        if h0.keyframe:
            ref = None
        else:
            if reference is None:
                raise CodecError(f"frame {h0.frame_seq} was coded against frame {h0.ref_frame_seq}; reference needed")
            if int(reference[0]) != h0.ref_frame_seq:
                raise CodecError(f"reference is frame {reference[0]}, layers need frame {h0.ref_frame_seq}")
            ref = self._check_tokens(reference[1], "reference tokens")
        recon = np.zeros(self._scan_size, np.float32)
        coded = [False] * len(self._levels)
        steps = self.base_steps
        for j, layer in enumerate(layers):
            buf = payload_of(layer).tobytes()
            if not buf:
                raise CodecError("empty layer payload")
            exponent = struct.unpack_from("<b", buf, 0)[0]
            step = steps[j] * STEP_EXPONENT_BASE ** exponent
            recon[self._layer_index[j]] += dequantize(decode_bands(buf[1:], self._layer_edges[j]), step)
            for lv in self.layer_levels[j]:
                coded[lv] = True
        t, d = self.token_shape
        nc = self._coarse_rows.stop
        zs = np.zeros((len(self._code_basis), d), np.float32)  # scaled pyramid coefficients (+ zero padding)
        if any(coded[:-1]):
            coarse = np.zeros((d, nc), np.float32)  # [D, coarse rows], as the scan vector holds them
            for lv, done in zip(self._levels[:-1], coded):
                if done:
                    coarse[:, lv.rows] = recon[lv.offset:lv.offset + lv.size].reshape(d, -1)
            zs[:nc] = (self._coarse_decoder() @ coarse).T
        last = self._levels[-1]
        if coded[-1]:
            detail = np.zeros((len(zs) - nc, last.comps), np.float32)  # padded as in encoding (speed)
            detail[:last.rows.stop - nc] = recon[last.offset:].reshape(last.comps, -1).T
            zs[nc:] = detail @ self._detail_decode
        if ref is None:
            zs[0] += self._mean_scaled
        rows = t if coded[-1] else nc  # detail rows are zero until a layer carries them
        out = self._decode_basis[:, :rows] @ zs[:rows]
        if ref is not None:
            out += ref
        if not np.isfinite(out).all():
            raise CodecError("decoded tokens are not finite (corrupt layers)")
        return out.astype(np.float32, copy=False)

    def fidelity(self, layers: Sequence[bytes]) -> float:
        """Fidelity (0..1) of what this prefix decodes to: 1 - model-weighted squared error / model
        energy of the frame about the calibration mean, signalled by the sender in the last layer."""
        return self.check_prefix(layers)[-1].fidelity

