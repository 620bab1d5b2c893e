"""The edge's encode-rate cap: decided on arrival, long-run rate bounded, a same-rate camera not thinned."""
import numpy as np
import pytest

from prosem_core.frame_gate import FrameGate, FrameGateConfig


def test_camera_at_the_cap_rate_with_jitter_is_not_thinned():
    rng = np.random.default_rng(0)
    gate = FrameGate()
    # 5 fps camera timer (jitter around its schedule, +-20% of a period), 5 Hz cap
    times = np.arange(500) * 0.2 + rng.uniform(-0.04, 0.04, 500)
    admitted = sum(gate.admit(float(t), 0.2) for t in np.maximum.accumulate(times))
    assert admitted == 500


def test_faster_camera_is_capped_to_the_rate_over_any_long_window():
    rng = np.random.default_rng(1)
    gate = FrameGate()
    times = np.cumsum(0.05 + rng.uniform(-0.01, 0.01, 2000))  # ~20 fps into a 2 Hz cap
    kept = [t for t in times if gate.admit(float(t), 0.5)]
    span = times[-1] - times[0]
    assert len(kept) <= span / 0.5 + gate.cfg.burst + 1
    assert len(kept) >= span / 0.5 - 2
    # bursts are bounded: never more than `burst` frames inside one interval
    kept = np.array(kept)
    assert np.all(kept[2:] - kept[:-2] >= 0.5 - 1e-9)


def test_a_skipped_frame_is_not_admitted_later_only_newer_ones_are():
    gate = FrameGate(FrameGateConfig(burst=1.0))
    assert gate.admit(0.0, 1.0)
    assert not gate.admit(0.4, 1.0)  # too early: skipped now, not queued
    assert gate.admit(1.0, 1.0)
    assert (gate.admitted, gate.skipped) == (2, 1)


def test_rate_change_and_bad_config():
    gate = FrameGate()
    assert gate.admit(0.0, 0.1) and gate.admit(0.05, 0.1)  # burst 1.5: 1 + 0.5 credit
    assert not gate.admit(0.06, 0.1)
    assert gate.admit(0.2, 0.1)
    with pytest.raises(ValueError):
        FrameGate(FrameGateConfig(burst=0.5))
