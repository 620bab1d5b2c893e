"""A tiny discrete-event model of a bottleneck link for the link-control tests (no sockets).

Layers enter a FIFO served at `rate_bps`, then a one-way propagation delay; each arriving layer
produces the feedback the cloud node would send (cumulative mask and bytes of its frame, the
echoed send time, the cloud's receive time on a clock offset by +1000 s), back after another
propagation delay. Loss drops a layer at the bottleneck with probability `loss`.
"""
from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from prosem_core.link.estimator import Feedback

CLOUD_CLOCK_OFFSET = 1000.0


@dataclass
class SimLink:
    rate_bps: float
    prop_s: float = 0.02
    loss: float = 0.0
    seed: int = 0
    down_between: tuple[float, float] | None = None  # (start, end): everything sent then is lost
    _busy_until: float = 0.0
    _events: list = field(default_factory=list)
    _frames: dict = field(default_factory=dict)
    delays: list = field(default_factory=list)  # (send time, layer index, queueing delay)
    _n: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def send(self, frame_seq: int, index: int, nbytes: int, now: float) -> None:
        start = max(now, self._busy_until)
        self._busy_until = start + nbytes * 8.0 / self.rate_bps
        self.delays.append((now, index, start - now))
        if self._rng.random() < self.loss:
            return
        if self.down_between and self.down_between[0] <= now < self.down_between[1]:
            return
        arrival = self._busy_until + self.prop_s
        self._n += 1
        heapq.heappush(self._events, (arrival + self.prop_s, self._n, frame_seq, index, nbytes, now, arrival))

    def feedback_until(self, now: float) -> list[tuple[float, Feedback]]:
        """Feedback that reaches the edge by `now`, in order, as (edge arrival time, Feedback)."""
        out = []
        while self._events and self._events[0][0] <= now:
            t_back, _, seq, index, nbytes, sent, arrival = heapq.heappop(self._events)
            mask, total = self._frames.get(seq, (0, 0))
            mask, total = mask | (1 << index), total + nbytes
            self._frames[seq] = (mask, total)
            out.append((t_back, Feedback(seq, mask, total, arrival + CLOUD_CLOCK_OFFSET, sent, 0.0)))
        return out
