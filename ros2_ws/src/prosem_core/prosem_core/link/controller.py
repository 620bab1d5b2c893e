"""Rate control: how many layers of a frame to push now, and how often to take a frame.

The goal is a bounded queue: what the edge has handed to the middleware and not yet seen
acknowledged must drain within `target_delay_s` at the estimated rate. Two budgets follow:

- per frame (burst): push layers 0..k-1 only while inflight + their bytes <= rate * target_delay;
  a frame whose base layer does not fit is skipped (unless nothing is in flight: a frame bigger
  than the whole window must still go out sometimes).
- per second (steady state): frames are taken at the highest rate <= max_frame_rate_hz at which
  the base layer alone uses at most `utilization` of the rate, and k is capped so k layers per
  frame at that frame rate fit the same share. Freshness first: a new frame's base layer is worth
  more than an old frame's refinements, which the cloud can pull when a question needs them.

With heavy loss, best-effort refinements rarely arrive whole, so only the base layer is pushed;
in an outage only base layers go out, at `outage_frame_rate_hz`, so the cloud has a fresh frame
soon after the link returns. The same rate is a floor at all times (keep-alive): a frame's base
layer goes out when nothing went out for 1 / outage_frame_rate_hz, whatever the queue estimate
says. An estimate that is too low would otherwise starve the very feedback that corrects it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import accumulate

from prosem_core.link.estimator import LinkEstimate


@dataclass
class RateControllerConfig:
    target_delay_s: float = 0.2
    max_frame_rate_hz: float = 5.0
    min_frame_rate_hz: float = 0.2  # floor so a stream never stops completely
    utilization: float = 0.85
    max_layers_per_frame: int = 0  # 0 = no cap
    refine_loss_threshold: float = 0.2
    outage_frame_rate_hz: float = 2.0
    enabled: bool = True  # False: push every layer of every frame at max_frame_rate_hz


@dataclass
class FramePlan:
    send: bool
    layers: int  # how many layers (prefix) to push now
    reason: str


class RateController:
    def __init__(self, config: RateControllerConfig | None = None) -> None:
        self.cfg = config or RateControllerConfig()
        self.frame_rate_hz = self.cfg.max_frame_rate_hz
        self.layers_per_frame = 0  # steady-state cap chosen at the last plan (0 = none yet)
        self._last_send = -math.inf

    def _steady(self, sizes: list[int], est: LinkEstimate) -> tuple[float, int]:
        cfg = self.cfg
        budget_Bps = cfg.utilization * est.bandwidth_bps / 8.0
        base = max(1, sizes[0])
        rate = min(cfg.max_frame_rate_hz, max(cfg.min_frame_rate_hz, budget_Bps / base))
        per_frame = budget_Bps / rate
        cum = list(accumulate(sizes))
        k = max(1, sum(1 for c in cum if c <= per_frame))
        return rate, k

    def plan(self, sizes: list[int], est: LinkEstimate, now: float | None = None) -> FramePlan:
        """Decide for a freshly encoded frame whose layers have these byte sizes (coarse first).

        `now` (seconds, any clock) enables the keep-alive floor; the caller reports what it sent
        by calling this again, so a plan with send=True counts as sent at `now`.
        """
        plan = self._plan(sizes, est)
        if now is not None:
            keep_alive = 1.0 / max(self.cfg.outage_frame_rate_hz, 1e-3)
            if not plan.send and sizes and self.cfg.enabled and now - self._last_send >= keep_alive:
                plan = FramePlan(True, 1, f"keep-alive: nothing sent for {now - self._last_send:.1f} s")
            if plan.send:
                self._last_send = now
        return plan

    def _plan(self, sizes: list[int], est: LinkEstimate) -> FramePlan:
        cfg = self.cfg
        n = len(sizes)
        if n == 0:
            return FramePlan(False, 0, "empty frame")
        cap = n if cfg.max_layers_per_frame <= 0 else min(n, cfg.max_layers_per_frame)
        if not cfg.enabled:
            self.frame_rate_hz, self.layers_per_frame = cfg.max_frame_rate_hz, cap
            return FramePlan(True, cap, "rate control off")
        if not est.link_up:
            self.frame_rate_hz, self.layers_per_frame = min(cfg.outage_frame_rate_hz, cfg.max_frame_rate_hz), 1
            return FramePlan(True, 1, "outage: base layer only")
        rate, k = self._steady(sizes, est)
        k = min(k, cap)
        reason = "steady"
        if not math.isnan(est.loss_rate) and est.loss_rate > cfg.refine_loss_threshold and k > 1:
            k, reason = 1, f"loss {est.loss_rate:.2f}: base layer only"
        self.frame_rate_hz, self.layers_per_frame = rate, k
        window = est.bandwidth_bps / 8.0 * cfg.target_delay_s - est.inflight_bytes
        cum = list(accumulate(sizes[:k]))
        fit = sum(1 for c in cum if c <= window)
        if fit == 0:
            if est.inflight_bytes == 0:
                return FramePlan(True, 1, "base larger than the delay window; queue empty")
            return FramePlan(False, 0, f"queue full: {est.inflight_bytes} B in flight")
        if fit < k:
            reason = f"burst cut to {fit} by queue"
        return FramePlan(True, fit, reason)

    def frame_interval_s(self) -> float:
        return 1.0 / max(self.frame_rate_hz, 1e-3)
