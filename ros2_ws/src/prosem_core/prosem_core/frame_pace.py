"""A stream's own pace, and how far ahead of it a frame number may plausibly jump.

An edge numbers only the frames it sends, one after another, at most at its encode rate; a gap in
frame_seq means lost frames. So after `elapsed` seconds without a new frame, the next frame_seq can
be at most about `elapsed x rate` ahead, plus a slack for reordering and loss bursts. A frame much
further ahead (a forged frame_seq = latest + 10^6) is not the stream's newest frame: the Assembler
holds it apart, where it never becomes "latest" on its own.

The rate is observed (frame numbers advanced per second of arrival over the last few new frames),
allowed to rise by `rate_margin`, and capped by `max_frame_rate_hz` (the fastest any edge encodes;
the edge parameter max_encode_rate_hz is at most 60, its default 5). Until enough frames have been
seen, the cap is the rate.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass
class PaceConfig:
    max_frame_rate_hz: float = 30.0  # the fastest pace any edge is assumed to keep
    rate_margin: float = 2.0  # a stream may speed up to this multiple of its observed rate
    ahead_slack_frames: int = 16  # a jump this large is always plausible (reordering, loss bursts)
    ahead_confirm_frames: int = 3  # far-ahead frames that continue each other (and a silent main line) make a new line
    max_ahead_frames: int = 8  # far-ahead frames held per stream
    ahead_expire_s: float = 10.0  # a far-ahead frame not confirmed within this is dropped
    latest_window_s: float = 0.5  # "latest" = highest frame_seq among frames that arrived within this of the newest arrival
    min_span_s: float = 0.05  # observation span below which the rate is not trusted (a burst)


class FramePace:
    """Observed frame-number rate of one stream's epoch. Not thread-safe (the Assembler's lock)."""

    def __init__(self, config: PaceConfig) -> None:
        self.cfg = config
        self._seen: deque[tuple[float, int]] = deque(maxlen=8)  # (arrival, frame_seq) of new newest frames
        self.last_arrival = math.nan

    def observe(self, frame_seq: int, arrival: float) -> None:
        """A frame beyond the newest one arrived (only those show the pace)."""
        self._seen.append((arrival, frame_seq))
        self.last_arrival = arrival

    def rate_hz(self) -> float:
        """Frame numbers per second over the recent new frames; NaN until the span is long enough."""
        if len(self._seen) < 3:
            return math.nan
        (t0, s0), (t1, s1) = self._seen[0], self._seen[-1]
        span = t1 - t0
        return (s1 - s0) / span if span >= self.cfg.min_span_s else math.nan

    def pace_hz(self) -> float:
        rate = self.rate_hz()
        if math.isnan(rate):
            return self.cfg.max_frame_rate_hz
        return min(self.cfg.max_frame_rate_hz, self.cfg.rate_margin * rate)

    def frame_interval_s(self) -> float:
        """Seconds between frame numbers at the observed rate (NaN until known)."""
        rate = self.rate_hz()
        return 1.0 / rate if rate > 0 else math.nan

    def allowed_ahead(self, now: float) -> int:
        """How many frame numbers past the newest one a frame arriving now may plausibly be."""
        if math.isnan(self.last_arrival):
            return self.cfg.ahead_slack_frames
        elapsed = max(0.0, now - self.last_arrival)
        return self.cfg.ahead_slack_frames + math.ceil(elapsed * self.pace_hz())
