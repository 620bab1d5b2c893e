"""Link adaptation, ROS-free: estimate the uplink, choose what to send, and the QoS to send it with.

- estimator: goodput, bottleneck rate, RTT (from echoed send stamps), loss (sent vs acknowledged).
- controller: layers per frame and frame rate that keep the queueing delay under a target.
- qos_policy: QoS per layer class as plain data, and how it follows the measured link.
"""
from prosem_core.link.controller import FramePlan, RateController, RateControllerConfig
from prosem_core.link.estimator import EstimatorConfig, Feedback, LinkEstimate, LinkEstimator
from prosem_core.link.qos_policy import LayerQosPolicy, QosPolicyConfig, QosSpec, layer_qos_for_link

__all__ = [
    "EstimatorConfig",
    "Feedback",
    "FramePlan",
    "LayerQosPolicy",
    "LinkEstimate",
    "LinkEstimator",
    "QosPolicyConfig",
    "QosSpec",
    "RateController",
    "RateControllerConfig",
    "layer_qos_for_link",
]
