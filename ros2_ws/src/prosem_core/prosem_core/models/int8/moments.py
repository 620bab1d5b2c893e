"""Second moments of what each weight row multiplies, E[p p^T] over calibration inputs.

A layer's output error from its weight error D (one row per output channel) is D p for every input
patch p, so its mean square is D E[p p^T] D^T: the matrix `rounding` minimises against. Uncentred on
purpose: the mean of p is in it, so a rounding that shifts the output's mean costs what it should.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from prosem_core.models.int8.graph import WeightLayer, is_depthwise


def conv_patches(x: np.ndarray, layer: WeightLayer, w_shape: tuple[int, ...]) -> np.ndarray:
    """x [B, C, H, W] -> patches in the weight's flattening order: [P, C*kh*kw] for a dense conv,
    [C, P, kh*kw] for a depthwise one."""
    kh, kw = w_shape[2], w_shape[3]
    pads = layer.attrs.get("pads", [0, 0, 0, 0])
    sh, sw = layer.attrs.get("strides", [1, 1])
    dh, dw = layer.attrs.get("dilations", [1, 1])
    if (dh, dw) != (1, 1):
        raise ValueError(f"{layer.name}: dilated convolutions are not supported by the rounding step")
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    win = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]  # [B, C, Ho, Wo, kh, kw]
    b, c, ho, wo = win.shape[:4]
    if is_depthwise(layer, w_shape):
        return win.transpose(1, 0, 2, 3, 4, 5).reshape(c, b * ho * wo, kh * kw)
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(b * ho * wo, c * kh * kw)


def layer_patches(x: np.ndarray, layer: WeightLayer, w_shape: tuple[int, ...]) -> np.ndarray:
    if layer.op == "Conv":
        return conv_patches(x, layer, w_shape)
    k = w_shape[1] if layer.op == "Gemm" and layer.attrs.get("transB", 0) else w_shape[0]
    return x.reshape(-1, k)


def supported(layer: WeightLayer, w_shape: tuple[int, ...]) -> bool:
    """Dense convs, depthwise convs, MatMul and Gemm; other grouped, dilated or auto-padded convs keep
    nearest rounding."""
    if layer.op != "Conv":
        return True
    group = layer.attrs.get("group", 1)
    dil = tuple(layer.attrs.get("dilations", [1, 1]))
    pad_mode = layer.attrs.get("auto_pad", b"NOTSET")
    explicit_pads = pad_mode in (b"NOTSET", "NOTSET")  # SAME_* pads are not in `pads`; conv_patches reads only those
    return len(w_shape) == 4 and dil == (1, 1) and explicit_pads and (group == 1 or is_depthwise(layer, w_shape))


class Moments:
    """Running E[p p^T] for one layer: [K, K] shared by all output channels, or [O, k, k] per
    channel for a depthwise conv."""

    def __init__(self):
        self.sum: np.ndarray | None = None
        self.count = 0

    def add(self, patches: np.ndarray) -> None:
        p = patches.astype(np.float64, copy=False)
        if p.ndim == 2:
            s, n = p.T @ p, p.shape[0]
        else:
            s, n = np.matmul(p.transpose(0, 2, 1), p), p.shape[1]  # batched BLAS; einsum is 20x slower here
        self.sum = s if self.sum is None else self.sum + s
        self.count += n

    def mean(self) -> np.ndarray:
        if self.sum is None:
            raise ValueError("no calibration patches were added")
        return self.sum / self.count
