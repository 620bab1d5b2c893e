"""Uniform scalar quantization with a dead zone, used for successive refinement.

One step size for every coefficient of a layer: coefficients live in the model-metric space, where
squared error is model error, so a common step is the rate-distortion choice (reverse water-filling:
weak coefficients simply quantize to zero and cost almost nothing after entropy coding).

The dead zone (rounding threshold above one half) saves bits on the many near-zero residuals and
keeps refinement monotone: every coefficient's error after a layer is at most its error before.
"""
from __future__ import annotations

import numpy as np

STEP_EXPONENT_BASE = 2.0 ** 0.25  # per-frame step = calibrated step * 2^(e/4), e signalled as int8


def quantize(residual: np.ndarray, step: float, deadzone: float) -> np.ndarray:
    """Integer indices q with |residual - q*step| <= |residual| for every element."""
    mag = np.abs(residual)  # one temporary, updated in place (encode runs this per layer)
    mag /= step
    mag += 0.5 - deadzone
    np.floor(mag, out=mag)
    np.maximum(mag, 0.0, out=mag)
    np.copysign(mag, residual, out=mag)
    return mag.astype(np.int64)


def dequantize(q: np.ndarray, step: float) -> np.ndarray:
    return q.astype(np.float32) * np.float32(step)
