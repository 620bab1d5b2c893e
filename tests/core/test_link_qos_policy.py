"""prosem_core.link.qos_policy: QoS per layer class, and how it follows the link."""
import pytest

from prosem_core.link.estimator import LinkEstimate
from prosem_core.link.qos_policy import (
    BASE_READER_QOS,
    FEEDBACK_QOS,
    REFINE_READER_QOS,
    QosPolicyConfig,
    QosSpec,
    layer_qos_for_link,
)


def _est(rtt):
    return LinkEstimate(1e6, 0.0, rtt, rtt, 0.0, 0.0, 0, True)


def test_classes():
    pol = layer_qos_for_link(None, 5.0)
    assert pol.base.reliability == "best_effort" and pol.base.lifespan_s == 2.0  # repaired by pulls
    assert layer_qos_for_link(None, 5.0, QosPolicyConfig(base_reliability="reliable")).base.reliability == "reliable"
    assert pol.refine.reliability == "best_effort" and 0 < pol.refine.lifespan_s <= 2.0
    assert FEEDBACK_QOS.reliability == "best_effort"
    # Readers must match: a reliable reader would not match the best-effort writers.
    assert BASE_READER_QOS.reliability == pol.base.reliability
    assert REFINE_READER_QOS.reliability == "best_effort"


@pytest.mark.parametrize("rtt, fps, life", [(0.01, 5.0, 0.25), (0.1, 5.0, 0.5), (0.3, 5.0, 1.0), (0.3, 1.0, 2.0), (5.0, 5.0, 2.0)])
def test_refine_lifespan_follows_rtt_and_frame_period_in_steps(rtt, fps, life):
    assert layer_qos_for_link(_est(rtt), fps).refine.lifespan_s == life


def test_small_jitter_does_not_change_the_policy():
    assert layer_qos_for_link(_est(0.05), 5.0) == layer_qos_for_link(_est(0.07), 5.0)


def test_base_depth_covers_lifespan_in_powers_of_two():
    for fps, depth in [(5.0, 16), (1.0, 4), (30.0, 32), (0.2, 2)]:
        assert layer_qos_for_link(None, fps, QosPolicyConfig(base_lifespan_s=2.0)).base.depth == depth


def test_describe():
    assert QosSpec("best_effort", depth=16, lifespan_s=0.5).describe() == "best_effort/volatile/keep_last 16/lifespan 0.5s"
    assert QosSpec("reliable", depth=8).describe() == "reliable/volatile/keep_last 8"
