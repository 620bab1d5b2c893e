"""QoS per layer class as plain data, and how it follows the measured link.

QoS design (edge -> cloud unless noted). Layers travel on two topics, because a reliable reader
does not match a best-effort writer and a best-effort reader would downgrade a reliable one:

- prosem/layers, class "base" (layer 0 of every frame, and every layer the cloud pulled):
  BEST_EFFORT (parameter base_reliability, default best_effort), VOLATILE, KEEP_LAST =
  base_lifespan_s worth of frames (power of two, 2..32), LIFESPAN base_lifespan_s (2 s).
  Repair happens in the application instead of the middleware: a query that needs a layer the
  cloud lacks pulls it, and repeats the pull every pull_retry_s (0.25 s) until it arrives; a frame
  whose base layer is lost is simply replaced by the next one (200 ms later at 5 fps). Why not
  RELIABLE (the first design): a reliable reader delivers in order, so one lost datagram holds
  every later base layer back until the writer's next heartbeat (Fast DDS default: 3 s) repairs
  it. Measured on the shaped link (1 Mbit/s tbf, netns, one run, 20 s windows, 2 shared cores):
  30 % datagram loss: first answer median 0.95 s reliable vs 0.28 s best effort, refined (whole
  stack) 2.86 s vs 0.82 s; clean link: 0.33 vs 0.24 s first, 0.42 vs 0.29 s refined; after a 5 s
  cut answers resumed 0.75 vs 0.60 s after the link returned. RELIABLE stays available (set it on
  the edge and the cloud) for links where the heartbeat is tuned short or loss is rare; then the
  lifespan keeps a returning link from replaying seconds of stale frames.
- prosem/layers/refine, class "refine" (layers 1.. pushed proactively): BEST_EFFORT, VOLATILE,
  KEEP_LAST 16, LIFESPAN about one frame period + 2 RTT (0.25 / 0.5 / 1 / 2 s steps). A late
  refinement is worth less than the next frame's base layer; what is lost is pulled
  when a question needs it, so no bandwidth goes to repairs nobody asked for.
- prosem/feedback (cloud -> edge): BEST_EFFORT, KEEP_LAST 32. Each message is a fresh measurement;
  one repaired late would corrupt the RTT estimate. Pull requests are repeated while a query waits.
- prosem/link_state: RELIABLE, KEEP_LAST 5 (slow, small, for people and loggers).
- camera input: BEST_EFFORT, KEEP_LAST 1 (sensor data; the edge keeps only the newest frame).
- prosem/image_jpeg (full_cloud baseline): RELIABLE, KEEP_LAST 4, LIFESPAN 2 s. A 640x480 JPEG
  is tens of datagrams; best effort would lose nearly every frame at 30 % loss, and there is no
  application-level repair for it.
- Cloud readers: KEEP_LAST 64, reliability = base_reliability on prosem/layers, BEST_EFFORT on the
  refine topic (deep enough for several robots' bursts; the assembler bounds memory, not the reader).

How it follows the measured link: `layer_qos_for_link(estimate, frame_rate)` is recomputed at each
link-state tick. The refinement lifespan tracks frame period + 2 RTT in steps; the edge moves
refinements to a publisher of the new step (created once per step and kept, at most four) only
after the step has been wanted for a whole `qos_update_min_interval_s`, and make-before-break (the
current publisher carries refinements until the new one has matched the cloud's reader). The base
publisher never changes. The largest change is the rate controller's (controller.py): above
`refine_loss_threshold` loss, or in an outage, no refinements are pushed at all; they then travel
only as pulls, on demand (repeated until they arrive).
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
    # "best_effort" (default, measured faster, see the module docstring) or "reliable". With
    # "reliable" the cloud's reader must be reliable too; a best-effort reader matches either.
    base_reliability: str = "best_effort"
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
# full_cloud baseline: reliable (no pulls repair a JPEG); a short queue (a JPEG is 20-100 kB) and the
# same lifespan as base layers.
JPEG_QOS = QosSpec("reliable", depth=4, lifespan_s=2.0)
# Subscriptions on the cloud: a reader must not be stricter than the writers it should match.
BASE_READER_QOS = QosSpec("best_effort", depth=64)  # the cloud's base_reliability parameter overrides
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
    base = QosSpec(cfg.base_reliability, depth=depth, lifespan_s=cfg.base_lifespan_s)
    rtt = 0.0 if est is None or math.isnan(est.rtt_s) else est.rtt_s
    refine_life = _step(period + 2.0 * rtt, cfg.min_refine_lifespan_s, cfg.max_refine_lifespan_s)
    refine = QosSpec("best_effort", depth=cfg.refine_depth, lifespan_s=refine_life)
    return LayerQosPolicy(base=base, refine=refine)
