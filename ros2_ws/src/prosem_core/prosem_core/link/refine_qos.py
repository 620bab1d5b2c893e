"""Which refinement publisher carries refinements, and when it changes (ROS-free, injectable clock).

The refinement lifespan follows the link (qos_policy.layer_qos_for_link), but a DDS writer's QoS is
fixed at creation, so a new lifespan step means a new publisher. Two rules keep that from hurting:
- hysteresis: a new step must be wanted for a whole `min_interval_s` (and that long after the last
  change) before anything happens, so RTT noise does not flap publishers;
- make before break: refinements move to the new step's publisher only once it has matched as many
  readers as the current one (or after `switch_timeout_s`, so a cloud that never matches it cannot
  stall the switch forever). Publishers of earlier steps are kept by the node (one per step): a step
  used before is instant to return to, and destroying a publisher under a running executor races its
  event handlers.
The node owns the publishers; this class only says which spec to create and which to publish on.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from prosem_core.link.qos_policy import QosSpec


@dataclass
class RefineQosConfig:
    enabled: bool = True
    min_interval_s: float = 5.0
    switch_timeout_s: float = 5.0


class RefineQosSwitcher:
    def __init__(self, initial: QosSpec, cfg: RefineQosConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.clock = clock
        self.active = initial  # refinements are published with this spec now
        self.target = initial  # the spec the policy settled on (== active unless a switch is pending)
        self._candidate: QosSpec | None = None
        self._candidate_since = 0.0
        self._last_change = clock()
        self._switch_started = 0.0
        self.changes = 0

    @property
    def switching(self) -> bool:
        return self.target != self.active

    def want(self, spec: QosSpec) -> QosSpec | None:
        """The policy's wish at a link-state tick. Returns the spec whose publisher the node must
        have from now on (a switch starts), else None."""
        if not self.cfg.enabled or self.switching or spec == self.active:
            self._candidate = None
            return None
        now = self.clock()
        if spec != self._candidate:
            self._candidate, self._candidate_since = spec, now
            return None
        if now - self._candidate_since < self.cfg.min_interval_s or now - self._last_change < self.cfg.min_interval_s:
            return None
        self.target, self._candidate = spec, None
        self._switch_started = self._last_change = now
        self.changes += 1
        return spec

    def current(self, matched: Callable[[QosSpec], int]) -> QosSpec:
        """The spec to publish a refinement on now; `matched(spec)` = readers matched by that spec's
        publisher. Completes a pending switch once the new publisher reaches the readers."""
        if self.switching:
            reached = matched(self.target) >= max(1, matched(self.active))
            if reached or self.clock() - self._switch_started > self.cfg.switch_timeout_s:
                self.active = self.target
        return self.active
