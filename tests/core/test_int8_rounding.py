"""Least-squares rounding of int8 weights (models/int8/rounding.py): never worse than nearest on the
layer's output error, better where inputs are correlated, and every code stays floor or ceil in range."""
from __future__ import annotations

import numpy as np
import pytest

from prosem_core.models.int8.rounding import least_squares_rounding, output_error


def _correlated_moments(rng, k: int, n: int = 4000) -> np.ndarray:
    base = rng.normal(size=(n, 3))
    x = base @ rng.normal(size=(3, k)) + 0.1 * rng.normal(size=(n, k)) + 0.5  # few factors, a mean
    return x.T @ x / n


def test_correlated_inputs_lower_the_output_error_and_codes_stay_floor_or_ceil():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(16, 32))
    scale = np.abs(w).max(axis=1) / 127
    c = _correlated_moments(rng, 32)
    nearest = np.clip(np.round(w / scale[:, None]), -127, 127)
    codes = least_squares_rounding(w, scale, c)
    u = w / scale[:, None]
    assert np.all((codes == np.floor(u)) | (codes == np.floor(u) + 1)) and np.abs(codes).max() <= 127
    err_near = output_error(nearest * scale[:, None] - w, c)
    err_ls = output_error(codes * scale[:, None] - w, c)
    assert np.all(err_ls <= err_near + 1e-18)
    assert err_ls.sum() < 0.5 * err_near.sum()  # correlated inputs: errors that cancel are found


def test_uncorrelated_equal_inputs_keep_nearest_rounding():
    """With C = I the error is separable: nearest rounding is already optimal and nothing flips."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=(8, 20))
    scale = np.abs(w).max(axis=1) / 127
    codes = least_squares_rounding(w, scale, np.eye(20))
    np.testing.assert_array_equal(codes, np.clip(np.round(w / scale[:, None]), -127, 127))


def test_per_row_moments_as_for_a_depthwise_conv():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(6, 9)) * np.array([1, 5, 0.1, 2, 1, 1])[:, None]
    scale = np.abs(w).max(axis=1) / 127
    c = np.stack([_correlated_moments(rng, 9, 500) for _ in range(6)])
    nearest = np.clip(np.round(w / scale[:, None]), -127, 127)
    codes = least_squares_rounding(w, scale, c)
    assert np.all(output_error(codes * scale[:, None] - w, c) <= output_error(nearest * scale[:, None] - w, c) + 1e-18)


def test_full_range_rows_never_leave_the_int8_range():
    w = np.array([[1.0, -1.0, 0.5, 0.2]])
    scale = np.array([1.0 / 127])
    codes = least_squares_rounding(w, scale, np.ones((4, 4)))  # a single factor: flips everywhere tempt
    assert codes.max() <= 127 and codes.min() >= -127


def test_recipe_rejects_nonsense():
    from prosem_core.models.int8.recipe import Int8Recipe

    for bad in ({"fp32_first": -1}, {"activations": "int4"}, {"rounding": "stochastic"}, {"bias_feeds": 0}):
        with pytest.raises(ValueError):
            Int8Recipe(**bad)
