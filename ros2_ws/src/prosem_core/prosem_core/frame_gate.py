"""A frame-rate cap that never makes a frame wait: each frame is admitted or skipped when it arrives.

The obvious cap ("after encoding, sleep until 1/rate has passed, then take the newest frame") adds
staleness whenever the camera runs at about the cap's rate: the frame that arrived just before the
sleep ends has waited almost a whole period, and with camera jitter the phase drifts so the edge
encodes frames up to one period old (measured: 5 fps camera, 5 Hz cap, capture -> publish 0.27-0.39 s
against 0.085 s with a 10 Hz cap). This gate is a token bucket in units of frames instead: credit
grows at 1/interval per second up to `burst`, a frame is admitted if a whole credit is there, and a
skipped frame is simply not encoded (the next one is fresher anyway). The long-run rate stays
<= 1/interval; `burst` > 1 absorbs camera jitter so a camera at exactly the cap rate is not thinned.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FrameGateConfig:
    burst: float = 1.5  # most credit (frames) saved up; 1.5 tolerates +-half a period of jitter


class FrameGate:
    """Not thread-safe: one worker calls it."""

    def __init__(self, config: FrameGateConfig | None = None) -> None:
        self.cfg = config or FrameGateConfig()
        if self.cfg.burst < 1.0:
            raise ValueError("burst must be >= 1 (a frame needs a whole credit)")
        self._credit = self.cfg.burst  # the first frame goes at once
        self._last: float | None = None
        self.admitted = 0
        self.skipped = 0

    def admit(self, arrival_s: float, interval_s: float) -> bool:
        """Whether the frame that arrived at `arrival_s` (monotonic seconds, non-decreasing) is
        encoded, at most one frame per `interval_s` on average."""
        if self._last is not None and interval_s > 0:
            elapsed = max(0.0, arrival_s - self._last)
            self._credit = min(self.cfg.burst, self._credit + elapsed / interval_s)
        elif interval_s <= 0:
            self._credit = self.cfg.burst
        self._last = arrival_s if self._last is None else max(self._last, arrival_s)
        if self._credit >= 1.0:
            self._credit -= 1.0
            self.admitted += 1
            return True
        self.skipped += 1
        return False
