"""rclpy QoS profiles built from the core's plain-data policy.

The design (which class gets which QoS, and why, and how it follows the link) is written once, in
prosem_core.link.qos_policy's docstring; this module only maps a QosSpec to a QoSProfile.
"""
from __future__ import annotations

from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from prosem_core.link.qos_policy import QosSpec


def to_profile(spec: QosSpec) -> QoSProfile:
    profile = QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=spec.depth,
        reliability=ReliabilityPolicy.RELIABLE if spec.reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if spec.durability == "transient_local" else DurabilityPolicy.VOLATILE,
    )
    if spec.lifespan_s > 0:
        profile.lifespan = Duration(nanoseconds=int(spec.lifespan_s * 1e9))
    if spec.deadline_s > 0:
        profile.deadline = Duration(nanoseconds=int(spec.deadline_s * 1e9))
    return profile
