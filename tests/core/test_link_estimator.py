"""prosem_core.link.estimator against a modelled bottleneck: rate, RTT, loss, goodput, outage."""
import math

import pytest
from link_sim import SimLink

from prosem_core.link.estimator import EstimatorConfig, Feedback, LinkEstimator


def _drive(est, link, frames, period, sizes, until=None):
    """Send `sizes` back to back every `period`, feeding feedback as it returns."""
    seq = 0
    t = 0.0
    end = until if until is not None else frames * period
    while t < end:
        for t_back, fb in link.feedback_until(t):
            est.on_feedback(fb, t_back)
        if seq < frames:
            for i, size in enumerate(sizes):
                est.on_sent(seq, i, size, t)
                link.send(seq, i, size, t)
            seq += 1
        t += period
    return t


@pytest.mark.parametrize("rate_bps", [250e3, 1e6, 4e6])
def test_bottleneck_rate_from_packet_trains(rate_bps):
    est = LinkEstimator(EstimatorConfig(initial_rate_bps=100e3))
    link = SimLink(rate_bps=rate_bps, prop_s=0.03)
    t = _drive(est, link, frames=30, period=0.2, sizes=[1000, 1000, 2000])
    e = est.estimate(t)
    assert e.bandwidth_bps == pytest.approx(rate_bps, rel=0.1)
    # RTT = 2 x propagation + the wait behind the frame's own burst: between the first layer's
    # serialisation and the whole burst's.
    assert 0.06 + 8000 / rate_bps - 1e-6 <= e.rtt_s <= 0.06 + 32000 / rate_bps + 1e-6
    assert e.min_rtt_s == pytest.approx(0.06 + 8000 / rate_bps, rel=1e-6)
    assert e.loss_rate == pytest.approx(0.0)
    # Goodput = what was offered (4000 B every 0.2 s), the link is not saturated.
    assert e.goodput_bps == pytest.approx(4000 * 8 / 0.2, rel=0.15)


def test_rtt_ignores_cloud_clock_and_hold_time():
    est = LinkEstimator()
    est.on_sent(0, 0, 100, 10.0)
    est.on_feedback(Feedback(0, 1, 100, receive_time=5e6, echo_send_time=10.0, hold_s=0.05), 10.25)
    assert est.estimate(10.25).rtt_s == pytest.approx(0.2)


def test_loss_rate_from_settled_frames():
    est = LinkEstimator()
    link = SimLink(rate_bps=2e6, loss=0.3, seed=7)
    t = _drive(est, link, frames=60, period=0.1, sizes=[500, 500, 500, 500])
    t += 2.0  # let the last frames settle
    for t_back, fb in link.feedback_until(t):
        est.on_feedback(fb, t_back)
    e = est.estimate(t)
    assert 0.2 < e.loss_rate < 0.4


def test_queueing_delay_cuts_rate_when_no_trains():
    # One layer per frame offered faster than the link: no trains, the RTT grows -> rate comes down.
    est = LinkEstimator(EstimatorConfig(initial_rate_bps=2e6, target_delay_s=0.2))
    link = SimLink(rate_bps=200e3, prop_s=0.01)
    t = _drive(est, link, frames=100, period=0.05, sizes=[2000])
    e = est.estimate(t)
    assert 0.5 * 200e3 < e.bandwidth_bps < 2 * 200e3  # cut towards the link, not below what it delivers
    assert e.inflight_bytes > 0 and e.queue_delay_s > 0


def test_outage_and_recovery():
    est = LinkEstimator(EstimatorConfig(silence_s=1.0))
    assert est.estimate(0.0).link_up  # nothing sent yet: no evidence of an outage
    link = SimLink(rate_bps=1e6, down_between=(2.0, 6.0))
    seq = 0
    states = {}
    t = 0.0
    while t < 9.0:
        for t_back, fb in link.feedback_until(t):
            est.on_feedback(fb, t_back)
        est.on_sent(seq, 0, 800, t)
        link.send(seq, 0, 800, t)
        seq += 1
        states[round(t, 1)] = est.estimate(t).link_up
        t += 0.1
    assert states[1.5] and not states[4.0] and not states[5.5]
    assert states[7.0]  # back within a second of the link returning


def test_estimates_are_nan_until_measured():
    e = LinkEstimator().estimate(0.0)
    assert math.isnan(e.rtt_s) and math.isnan(e.loss_rate)
    assert e.bandwidth_bps == EstimatorConfig().initial_rate_bps


def test_no_reader_means_outage():
    est = LinkEstimator()
    est.set_peer_present(False)
    assert not est.estimate(0.0).link_up
    est.set_peer_present(True)
    assert est.estimate(0.0).link_up
