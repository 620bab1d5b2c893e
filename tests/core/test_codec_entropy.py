"""The band-wise Golomb-Rice coder: exact round trip on sparse, dense, escaped and empty data."""
from __future__ import annotations

import numpy as np
import pytest

from prosem_core.codec import CodecError
from prosem_core.codec.entropy import decode_bands, encode_bands


def test_round_trip_many_shapes():
    rng = np.random.default_rng(3)
    for case in range(400):
        n = int(rng.integers(1, 3000))
        q = np.round(rng.laplace(size=n) * rng.uniform(0.01, 40)).astype(np.int64)
        if case % 7 == 0:
            q[:] = 0
        if case % 5 == 0:  # outliers go through the escape path
            q[rng.integers(0, n, 3)] = rng.choice([-1, 1], 3) * rng.integers(1000, 5_000_000, 3)
        edges = np.unique(np.concatenate([[0, n], rng.integers(0, n, int(rng.integers(0, 20)))]))
        blob = encode_bands(q, edges)
        np.testing.assert_array_equal(decode_bands(blob, edges), q)


def test_sparse_data_costs_few_bytes():
    q = np.zeros(20_000, np.int64)
    q[::500] = 3
    blob = encode_bands(q, np.array([0, 10_000, 20_000]))
    assert len(blob) < 100  # 40 non-zeros among 20,000: about 14 bits each (gap, magnitude, sign)


def test_trailing_or_missing_bytes_rejected():
    q = np.arange(-50, 50, dtype=np.int64)
    edges = np.array([0, 40, 100])
    blob = encode_bands(q, edges)
    with pytest.raises(CodecError):
        decode_bands(blob + b"\x00", edges)
    with pytest.raises(CodecError):
        decode_bands(blob[:-1], edges)


def test_plan_size_is_the_payload_size():
    """The encoder searches steps on plan sizes and packs bits once: sizes must be exact."""
    from prosem_core.codec.entropy import plan_bands

    rng = np.random.default_rng(4)
    for case in range(300):
        n = int(rng.integers(1, 3000))
        q = np.round(rng.laplace(size=n) * rng.uniform(0.01, 40)).astype(np.int64)
        if case % 7 == 0:
            q[:] = 0
        if case % 5 == 0:
            q[rng.integers(0, n, 3)] = rng.choice([-1, 1], 3) * rng.integers(1000, 5_000_000, 3)
        edges = np.unique(np.concatenate([[0, n], rng.integers(0, n, int(rng.integers(0, 20)))]))
        plan = plan_bands(q, edges)
        blob = plan.emit()
        assert plan.size == len(blob) and blob == encode_bands(q, edges)
        np.testing.assert_array_equal(decode_bands(blob, edges), q)
