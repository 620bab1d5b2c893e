"""Fidelity: the number a receiver gets with every prefix, without the missing layers.

fidelity = 1 - E_err / E_frame, where E_err is the model-weighted squared error of the tokens the
prefix decodes to (exact: the sender computes it while coding, including what the truncated detail
subspace cannot carry) and E_frame the model-weighted energy of the frame about the calibration mean
token. 0 = no better than the calibration mean, 1 = exact. Model-weighted means through W^T W of
the downstream model's first linear map (plain squared error without a model).
"""
from __future__ import annotations


def fidelity_from_error(error: float, energy: float) -> float:
    if energy <= 0.0:
        return 1.0 if error <= 0.0 else 0.0
    return float(min(max(1.0 - error / energy, 0.0), 1.0))
