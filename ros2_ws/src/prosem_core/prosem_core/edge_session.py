"""Edge-side sending logic, ROS-free: frame numbering, what to push, the recent-frames buffer and
pull requests. The edge node feeds it frames and feedback and publishes what it returns.
"""
from __future__ import annotations

import math
import random
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from prosem_core.link.controller import FramePlan, RateController
from prosem_core.link.estimator import Feedback, LinkEstimator


@dataclass
class EdgeSessionConfig:
    stream_id: str = "robot0"
    buffer_frames: int = 16  # recent frames whose layers can still be pulled
    pull_resend_min_s: float = 0.1  # do not resend the same layer faster than max(this, srtt)


@dataclass
class PullRequest:
    """The LayerFeedback fields that concern pulls."""

    frame_seq: int
    received_mask: int
    pull_layers: int


@dataclass
class _HeldFrame:
    layers: list[bytes]
    last_sent: dict[int, float] = field(default_factory=dict)


class EdgeSession:
    """Not thread-safe: the node calls it under one lock."""

    def __init__(self, config: EdgeSessionConfig, estimator: LinkEstimator, controller: RateController, epoch: int | None = None) -> None:
        self.cfg = config
        self.estimator = estimator
        self.controller = controller
        self.epoch = epoch if epoch is not None else random.SystemRandom().randrange(1, 2**32)
        self.next_seq = 0
        self.frames: OrderedDict[int, _HeldFrame] = OrderedDict()
        self.counters: Counter[str] = Counter()
        self.last_plan = FramePlan(False, 0, "no frame yet")

    def plan_frame(self, sizes: list[int], now: float) -> FramePlan:
        plan = self.controller.plan(sizes, self.estimator.estimate(now), now)
        self.last_plan = plan
        self.counters["frames_planned"] += 1
        if not plan.send:
            self.counters["frames_skipped_rate"] += 1
        return plan

    def add_frame(self, layers: list[bytes]) -> int:
        """Keep a frame's layers for pulls; returns its frame_seq (only sent frames get one, so a
        gap in frame_seq at the cloud means a lost frame, not a skipped one)."""
        seq = self.next_seq
        self.next_seq += 1
        self.frames[seq] = _HeldFrame(list(layers))
        while len(self.frames) > self.cfg.buffer_frames:
            self.frames.popitem(last=False)
        return seq

    def layer(self, frame_seq: int, index: int) -> bytes | None:
        frame = self.frames.get(frame_seq)
        return None if frame is None or index >= len(frame.layers) else frame.layers[index]

    def mark_sent(self, frame_seq: int, index: int, nbytes: int, now: float) -> None:
        frame = self.frames.get(frame_seq)
        if frame is not None:
            frame.last_sent[index] = now
        self.estimator.on_sent(frame_seq, index, nbytes, now)
        self.counters["layers_sent"] += 1
        self.counters["bytes_sent"] += nbytes

    def on_feedback(self, fb: Feedback, now: float) -> None:
        self.estimator.on_feedback(fb, now)
        self.counters["feedback"] += 1

    def pull(self, req: PullRequest, now: float) -> list[int]:
        """Layer indices of req.frame_seq to (re)send now for this pull request."""
        if req.pull_layers <= 0:
            return []
        frame = self.frames.get(req.frame_seq)
        if frame is None:
            self.counters["pull_frame_gone"] += 1
            return []
        est = self.estimator.estimate(now)
        spacing = max(self.cfg.pull_resend_min_s, 0.0 if math.isnan(est.rtt_s) else est.rtt_s)
        # A layer also waits behind the layers of its frame sent with it (up to `spacing` before it):
        # resending it before the link could have carried them only lengthens the queue
        # (full_tokens: five 25 kB chunks sent together take a second at 1 Mbit/s).
        byte_s = 8.0 / est.bandwidth_bps if est.bandwidth_bps > 0 else 0.0
        wanted = []
        for index in range(min(req.pull_layers, len(frame.layers))):
            if req.received_mask >> index & 1:
                continue
            sent = frame.last_sent.get(index)
            if sent is None:
                wanted.append(index)
                continue
            ahead = sum(len(frame.layers[j]) for j in range(index + 1)
                        if j in frame.last_sent and sent - spacing <= frame.last_sent[j] <= sent)
            if now - sent < spacing + ahead * byte_s:
                self.counters["pull_suppressed"] += 1  # already on its way; repeats of the request
                continue
            wanted.append(index)
        self.counters["pull_requests"] += 1
        self.counters["layers_pulled"] += len(wanted)
        return wanted
