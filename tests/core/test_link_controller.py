"""prosem_core.link.controller: per-frame plans, and the closed loop over a modelled bottleneck."""
import math

import numpy as np
import pytest
from link_sim import SimLink

from prosem_core.edge_session import EdgeSession, EdgeSessionConfig
from prosem_core.link.controller import RateController, RateControllerConfig
from prosem_core.link.estimator import EstimatorConfig, LinkEstimate, LinkEstimator

SIZES = [1000, 1000, 2000, 4000]


def _est(bw=1e6, inflight=0, loss=float("nan"), up=True):
    return LinkEstimate(bw, 0.0, 0.05, 0.05, loss, 8 * inflight / bw, inflight, up)


def test_fast_link_pushes_everything_at_max_rate():
    ctl = RateController(RateControllerConfig(max_frame_rate_hz=5.0))
    plan = ctl.plan(SIZES, _est(bw=10e6))
    assert plan.send and plan.layers == 4
    assert ctl.frame_rate_hz == 5.0


def test_slow_link_lowers_layers_then_frame_rate():
    ctl = RateController(RateControllerConfig(max_frame_rate_hz=5.0, utilization=1.0, target_delay_s=1.0))
    # 40 kB/s budget: 8000 B per frame at 5 fps -> 3 layers (4000 B), not the 4th (8000 B cumulative fits exactly).
    assert ctl.plan(SIZES, _est(bw=320e3)).layers == 4
    assert ctl.plan(SIZES, _est(bw=200e3)).layers == 3  # 5000 B per frame
    assert ctl.frame_rate_hz == 5.0
    # 2 kB/s: even the base layer alone cannot go at 5 fps -> 2 fps, one layer.
    plan = ctl.plan(SIZES, _est(bw=16e3))
    assert plan.layers == 1 and ctl.frame_rate_hz == pytest.approx(2.0)


def test_queue_budget_cuts_burst_or_skips_frame():
    ctl = RateController(RateControllerConfig(target_delay_s=0.1))
    # window = 1e6/8 * 0.1 = 12500 B
    assert ctl.plan(SIZES, _est(inflight=6000)).layers == 3  # 6000 + 4000 <= 12500 < 6000 + 8000
    assert ctl.plan(SIZES, _est(inflight=12000)).send is False
    # Nothing in flight but the base layer is bigger than the window: still send it.
    plan = ctl.plan([20000, 1000], _est(inflight=0))
    assert plan.send and plan.layers == 1


def test_loss_and_outage_send_base_only():
    ctl = RateController(RateControllerConfig(refine_loss_threshold=0.2, outage_frame_rate_hz=2.0))
    assert ctl.plan(SIZES, _est(bw=10e6, loss=0.3)).layers == 1
    assert ctl.plan(SIZES, _est(bw=10e6, loss=0.1)).layers == 4
    plan = ctl.plan(SIZES, _est(bw=10e6, up=False))
    assert plan.layers == 1 and ctl.frame_rate_hz == 2.0


def test_disabled_and_capped():
    ctl = RateController(RateControllerConfig(enabled=False, max_layers_per_frame=2))
    assert ctl.plan(SIZES, _est(bw=1e3, inflight=10**6)).layers == 2
    assert not RateController().plan([], _est()).send


def _closed_loop(rate_control: bool, rate_bps=400e3, seconds=20.0, camera_hz=10.0):
    est = LinkEstimator(EstimatorConfig(initial_rate_bps=1e6, target_delay_s=0.2))
    ctl = RateController(RateControllerConfig(target_delay_s=0.2, max_frame_rate_hz=5.0, enabled=rate_control))
    session = EdgeSession(EdgeSessionConfig(), est, ctl, epoch=1)
    link = SimLink(rate_bps=rate_bps, prop_s=0.02)
    tick, next_at, layers_sent = 0, 0.0, 0
    while tick / camera_hz < seconds:
        t = tick / camera_hz
        for t_back, fb in link.feedback_until(t):
            session.on_feedback(fb, t_back)
        if t >= next_at - 1e-9:
            plan = session.plan_frame(SIZES, t)
            if plan.send:
                seq = session.add_frame([b"x" * s for s in SIZES])
                for i in range(plan.layers):
                    session.mark_sent(seq, i, SIZES[i], t)
                    link.send(seq, i, SIZES[i], t)
                    layers_sent += 1
            next_at = t + max(1 / 5.0, ctl.frame_interval_s())
        tick += 1
    base_delays = [d for sent, i, d in link.delays if i == 0 and sent > seconds / 2]
    return base_delays, layers_sent, est.estimate(t)


def test_closed_loop_keeps_queue_under_target():
    # 8000 B per frame x 5 fps = 320 kbit/s offered... at 150 kbit/s the link cannot carry it all.
    delays, sent, est = _closed_loop(True, rate_bps=150e3)
    assert np.percentile(delays, 95) <= 0.2 + 8000 * 8 / 150e3  # target + one frame's burst
    assert est.bandwidth_bps == pytest.approx(150e3, rel=0.25)
    # Without rate control the same link builds a queue of seconds.
    delays_off, sent_off, _ = _closed_loop(False, rate_bps=150e3)
    assert np.percentile(delays_off, 95) > 2.0
    assert sent > 0 and sent_off > sent


def test_closed_loop_uses_a_fast_link_fully():
    delays, sent, est = _closed_loop(True, rate_bps=5e6, seconds=10.0)
    assert sent >= 0.9 * 10 * 5 * 4  # every layer of every frame at 5 fps
    assert max(delays) < 0.05
    assert not math.isnan(est.rtt_s)


def test_keep_alive_floor_sends_base_when_starved():
    ctl = RateController(RateControllerConfig(target_delay_s=0.1, outage_frame_rate_hz=2.0))
    full = _est(bw=32e3, inflight=5000)  # a (too) low estimate with a lost layer still counted
    assert ctl.plan(SIZES, full, now=0.0).send  # first frame ever: nothing sent for ever
    assert not ctl.plan(SIZES, full, now=0.2).send
    plan = ctl.plan(SIZES, full, now=0.55)
    assert plan.send and plan.layers == 1 and "keep-alive" in plan.reason
    assert not ctl.plan(SIZES, full, now=0.7).send


def test_jitter_without_queue_does_not_starve_the_stream():
    # A fast link whose feedback comes back with 0..400 ms of scheduling jitter (a busy host) and
    # 30 % loss: the delay signal is noisy, yet frames must keep flowing at >= the keep-alive rate.
    import random

    rng = random.Random(3)
    est = LinkEstimator(EstimatorConfig(initial_rate_bps=1e6, target_delay_s=0.2))
    ctl = RateController(RateControllerConfig(target_delay_s=0.2, max_frame_rate_hz=5.0, outage_frame_rate_hz=2.0))
    session = EdgeSession(EdgeSessionConfig(), est, ctl, epoch=1)
    pending, sent_times = [], []
    for tick in range(300):  # 30 s of a 10 Hz camera
        t = tick / 10
        for item in [p for p in pending if p[0] <= t]:
            pending.remove(item)
            session.on_feedback(item[1], item[0])
        plan = session.plan_frame(SIZES, t)
        if plan.send:
            seq = session.add_frame([b"x" * s for s in SIZES])
            sent_times.append(t)
            for i in range(plan.layers):
                session.mark_sent(seq, i, SIZES[i], t)
                if rng.random() < 0.3:
                    continue
                from prosem_core.link.estimator import Feedback

                back = t + 0.01 + rng.uniform(0.0, 0.4)
                pending.append((back, Feedback(seq, (1 << (i + 1)) - 1, sum(SIZES[: i + 1]), 500 + t, t, 0.0)))
    gaps = np.diff(sent_times)
    assert gaps.max() <= 0.5 + 0.1 + 1e-9  # keep-alive period plus one camera tick
    assert len(sent_times) >= 2 * 30
