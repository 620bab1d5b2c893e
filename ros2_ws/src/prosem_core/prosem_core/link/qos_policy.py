"""QoS per layer class as plain data, and how it follows the measured link.

QoS design (edge -> cloud unless noted). Layers travel on two topics, because a reliable reader
does not match a best-effort writer and a best-effort reader would downgrade a reliable one:

- prosem/layers, class "base" (layer 0 of every frame, and every layer the cloud pulled):
  RELIABLE, VOLATILE, KEEP_LAST = base_lifespan_s worth of frames (power of two, 2..32),
  LIFESPAN base_lifespan_s (2 s). Every frame must reach the cloud at least coarsely, and a pulled
  layer has a question waiting on it, so the middleware repairs losses. The lifespan stops repairs
  of frames nobody wants any more: after a link cut the writer does not replay seconds of stale
  frames ahead of the fresh one.
- prosem/layers/refine, class "refine" (layers 1.. pushed proactively): BEST_EFFORT, VOLATILE,
  KEEP_LAST 16, LIFESPAN about one frame period + 2 RTT (0.25 / 0.5 / 1 / 2 s steps). A late
  refinement is worth less than the next frame's base layer; what is lost is pulled reliably
  when a question needs it, so no bandwidth goes to repairs nobody asked for.
- prosem/feedback (cloud -> edge): BEST_EFFORT, KEEP_LAST 32. Each message is a fresh measurement;
  one repaired late would corrupt the RTT estimate. Pull requests are repeated while a query waits.
- prosem/link_state: RELIABLE, KEEP_LAST 5 (slow, small, for people and loggers).
- camera input: BEST_EFFORT, KEEP_LAST 1 (sensor data; the edge keeps only the newest frame).
- prosem/image_jpeg (full_cloud baseline): RELIABLE, KEEP_LAST 4, LIFESPAN 2 s: the base class's
  guarantee with a shorter queue (each sample is a whole JPEG).
- Cloud readers: RELIABLE KEEP_LAST 64 on prosem/layers, BEST_EFFORT KEEP_LAST 64 on the refine
  topic (deep enough for several robots' bursts; the assembler bounds memory, not the reader).

How it follows the measured link: `layer_qos_for_link(estimate, frame_rate)` is recomputed at each
link-state tick. The refinement lifespan tracks frame period + 2 RTT in steps, and the edge
re-creates only the refinement publisher, only after a new step has been wanted for a whole
`qos_update_min_interval_s`, and make-before-break (the old publisher carries refinements until the
new one has matched the cloud's reader). The base publisher is never re-created, so reliable
delivery is never interrupted. The largest change is the rate controller's (controller.py): above
`refine_loss_threshold` loss, or in an outage, no refinements are pushed at all; they then travel
only as reliable pulls, on demand.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from prosem_core.link.estimator import LinkEstimate

LIFESPAN_STEPS_S = (0.25, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class QosSpec:
    reliability: str  # "reliable" | "best_effort"
    durability: str = "volatile"  # "volatile" | "transient_local"
    depth: int = 10
    lifespan_s: float = 0.0  # 0 = infinite
    deadline_s: float = 0.0  # 0 = none

    def describe(self) -> str:
        text = f"{self.reliability}/{self.durability}/keep_last {self.depth}"
        if self.lifespan_s > 0:
            text += f"/lifespan {self.lifespan_s:g}s"
        if self.deadline_s > 0:
            text += f"/deadline {self.deadline_s:g}s"
        return text


@dataclass
class QosPolicyConfig:
    base_lifespan_s: float = 2.0
    refine_depth: int = 16
    min_refine_lifespan_s: float = 0.25
    max_refine_lifespan_s: float = 2.0


@dataclass(frozen=True)
class LayerQosPolicy:
    base: QosSpec
    refine: QosSpec


FEEDBACK_QOS = QosSpec("best_effort", depth=32)
LINK_STATE_QOS = QosSpec("reliable", depth=5)
CAMERA_QOS = QosSpec("best_effort", depth=1)
# full_cloud baseline: reliable like the base layers; a short queue (a JPEG is 20-100 kB) with the
# same lifespan as base layers, so both modes get the same delivery guarantee.
JPEG_QOS = QosSpec("reliable", depth=4, lifespan_s=2.0)
# Subscriptions on the cloud: a reader must not be stricter than the writers it should match.
BASE_READER_QOS = QosSpec("reliable", depth=64)
REFINE_READER_QOS = QosSpec("best_effort", depth=64)


def _step(value: float, lo: float, hi: float) -> float:
    value = min(hi, max(lo, value))
    for step in LIFESPAN_STEPS_S:
        if step >= value and lo <= step <= hi:
            return step
    return hi


def layer_qos_for_link(est: LinkEstimate | None, frame_rate_hz: float, cfg: QosPolicyConfig | None = None) -> LayerQosPolicy:
    """The QoS of the two layer classes for the current link estimate (None = nothing known yet)."""
    cfg = cfg or QosPolicyConfig()
    period = 1.0 / max(frame_rate_hz, 1e-3)
    frames = max(2, math.ceil(cfg.base_lifespan_s / period) + 1)
    depth = min(32, 1 << (frames - 1).bit_length())  # power of two: a steady rate never churns it
    base = QosSpec("reliable", depth=depth, lifespan_s=cfg.base_lifespan_s)
    rtt = 0.0 if est is None or math.isnan(est.rtt_s) else est.rtt_s
    refine_life = _step(period + 2.0 * rtt, cfg.min_refine_lifespan_s, cfg.max_refine_lifespan_s)
    refine = QosSpec("best_effort", depth=cfg.refine_depth, lifespan_s=refine_life)
    return LayerQosPolicy(base=base, refine=refine)
