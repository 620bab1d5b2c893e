"""Uplink estimation on the edge from what it sent and what the cloud acknowledged.

Inputs: every layer the edge hands to the middleware (`on_sent`) and every LayerFeedback
(`on_feedback`). All edge times are on one edge clock; the cloud's receive stamps are only ever
subtracted from each other, so the two clocks never need to agree.

- RTT: now - echoed send stamp - cloud hold time; smoothed (EWMA 1/8, like TCP) and a windowed
  minimum (the propagation part). The least of the last 4 samples minus that minimum is the
  queueing delay the link shows (a standing queue raises all samples; jitter only some).
- Bottleneck rate: layers of one frame leave back to back, so they queue at the bottleneck and
  arrive spaced by its rate (a packet train): bytes after the first arrival / arrival spread, on
  the cloud clock. Without trains (one layer per frame) the rate is probed up while the delay stays
  low and cut by 15 % (at most every `cut_interval_s`) while it is above the target.
- Goodput: newly acknowledged payload bytes per second over a window.
- Loss: layers sent vs layers acknowledged, counted once a frame has had time to be acknowledged.
- Outage: nothing acknowledged for `silence_s` while sending, or the middleware reports that no
  reader matches the layer topic any more (`set_peer_present(False)`, from a QoS matched event).

Receipts are evidence only for what this edge sent, once: feedback about a frame it does not track,
naming layers it never sent, claiming more bytes than those layers hold, or receive times spread
wider than the time since the frame was sent (a fake slow packet train) is ignored whole; a layer
acknowledged again adds nothing; an echoed send stamp gives an RTT sample only when it is the send
time of a layer of that frame, once per layer, with a hold time that fits. So forged or repeated
feedback cannot pin the estimate (without a key it can still withhold or delay real receipts;
with a key the edge drops it before it gets here). `rejected` counts what was ignored, by reason.
"""
from __future__ import annotations

import math
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field


@dataclass
class EstimatorConfig:
    initial_rate_bps: float = 1.0e6
    min_rate_bps: float = 32.0e3
    max_rate_bps: float = 1.0e9
    window_s: float = 2.0  # goodput window
    loss_window_s: float = 5.0
    rtt_min_window_s: float = 10.0
    silence_s: float = 1.5  # no acknowledgement this long while sending -> outage
    probe_gain_per_s: float = 0.25  # rate growth per second while the delay stays low
    target_delay_s: float = 0.2  # delay above which the rate is cut back
    train_max_age_s: float = 3.0  # a train sample this old no longer sets the rate
    cut_interval_s: float = 0.25  # least time between two delay-based rate cuts
    max_tracked_frames: int = 64
    echo_tolerance_s: float = 2e-6  # an echoed stamp crossed float/nanosecond conversions on both sides


@dataclass
class Feedback:
    """The fields of one LayerFeedback the estimator uses (times in seconds)."""

    frame_seq: int
    received_mask: int
    bytes_received: int
    receive_time: float  # cloud clock
    echo_send_time: float  # edge clock, echoed
    hold_s: float


@dataclass
class LinkEstimate:
    bandwidth_bps: float
    goodput_bps: float
    rtt_s: float  # NaN until measured
    min_rtt_s: float
    loss_rate: float  # NaN until any frame settled
    queue_delay_s: float
    inflight_bytes: int
    link_up: bool

    @property
    def bandwidth_Bps(self) -> float:
        return self.bandwidth_bps / 8.0


@dataclass
class _SentFrame:
    sizes: dict[int, int] = field(default_factory=dict)  # layer index -> bytes
    sent_at: dict[int, float] = field(default_factory=dict)
    acked_mask: int = 0
    rtt_sampled: set[int] = field(default_factory=set)  # layers whose send time already gave an RTT sample
    first_sent: float = math.nan  # edge clock, first layer of the frame (resends do not move it)
    settled: bool = False
    # Packet-train bookkeeping on the cloud clock.
    first_rx: float = math.nan
    first_rx_bytes: int = 0
    last_rx: float = math.nan
    last_rx_bytes: int = 0


class LinkEstimator:
    """Not thread-safe: the node calls it under its own lock."""

    def __init__(self, config: EstimatorConfig | None = None) -> None:
        self.cfg = config or EstimatorConfig()
        self._frames: OrderedDict[int, _SentFrame] = OrderedDict()
        self._rate_bps = self.cfg.initial_rate_bps
        self._last_rate_update: float | None = None
        self._last_cut = -math.inf
        self._recent_rtts: deque[float] = deque(maxlen=4)
        self._train_samples: deque[tuple[float, float]] = deque(maxlen=7)  # (edge time, bps)
        self._acked: deque[tuple[float, int]] = deque()  # (edge time, bytes newly acked)
        self._settled: deque[tuple[float, int, int]] = deque()  # (edge time, sent, acked)
        self._rtt_samples: deque[tuple[float, float]] = deque()  # for the windowed minimum
        self._srtt = math.nan
        self._last_ack: float | None = None
        self._last_send: float | None = None
        self._first_send: float | None = None
        self.peer_present = True  # until the middleware says otherwise
        self.rejected: Counter[str] = Counter()  # feedback ignored, by reason (module docstring)

    def set_peer_present(self, present: bool) -> None:
        self.peer_present = present

    # -- inputs -------------------------------------------------------------------------------

    def on_sent(self, frame_seq: int, layer_index: int, nbytes: int, now: float) -> None:
        frame = self._frames.get(frame_seq)
        if frame is None:
            frame = _SentFrame()
            self._frames[frame_seq] = frame
            while len(self._frames) > self.cfg.max_tracked_frames:
                _, old = self._frames.popitem(last=False)
                self._settle(old, now)
        if math.isnan(frame.first_sent):
            frame.first_sent = now
        frame.sizes[layer_index] = nbytes
        frame.sent_at[layer_index] = now
        frame.rtt_sampled.discard(layer_index)  # a resend is a new chance for an RTT sample
        self._last_send = now
        if self._first_send is None:
            self._first_send = now

    def on_feedback(self, fb: Feedback, now: float) -> bool:
        """Take one receipt into account; False (and counted in `rejected`) when it is ignored."""
        frame = self._frames.get(fb.frame_seq)
        if frame is None:
            self.rejected["unknown_frame"] += 1
            return False
        sent_mask = sum(1 << idx for idx in frame.sizes)
        if fb.received_mask & ~sent_mask:
            self.rejected["unsent_layers"] += 1
            return False
        if fb.bytes_received > sum(size for idx, size in frame.sizes.items() if fb.received_mask >> idx & 1):
            self.rejected["bytes_exceed_layers"] += 1
            return False
        if not self._receive_time_plausible(frame, fb.receive_time, now):
            self.rejected["implausible_receive_time"] += 1
            return False
        counted = False
        echoed = self._echoed_layer(frame, fb.echo_send_time)
        hold = fb.hold_s
        if echoed is not None and math.isfinite(hold) and 0.0 <= hold <= now - fb.echo_send_time:
            frame.rtt_sampled.add(echoed)
            rtt = now - fb.echo_send_time - hold
            if rtt < 60.0:
                self._srtt = rtt if math.isnan(self._srtt) else 0.875 * self._srtt + 0.125 * rtt
                self._rtt_samples.append((now, rtt))
                self._recent_rtts.append(rtt)
                counted = True
        new_bits = fb.received_mask & ~frame.acked_mask
        if new_bits:
            newly = sum(size for idx, size in frame.sizes.items() if new_bits >> idx & 1)
            frame.acked_mask |= fb.received_mask
            self._acked.append((now, newly))
            self._train_sample(frame, fb, now)
            counted = True
        if not counted:
            self.rejected["nothing_new"] += 1
            return False
        self._last_ack = now
        self._update_rate(now)
        return True

    def _receive_time_plausible(self, frame: _SentFrame, receive_time: float, now: float) -> bool:
        """The frame's layers all arrived between its first send and now, so their cloud receive
        times cannot spread wider than that (whatever the offset between the two clocks)."""
        if not math.isfinite(receive_time):
            return False
        if math.isnan(frame.first_rx):
            return True
        span = max(frame.last_rx, receive_time) - min(frame.first_rx, receive_time)
        return span <= now - frame.first_sent + self.cfg.echo_tolerance_s

    def _echoed_layer(self, frame: _SentFrame, echo: float) -> int | None:
        """The layer of `frame` sent at `echo` that has not given an RTT sample yet, if any."""
        tolerance = self.cfg.echo_tolerance_s
        for idx, sent in frame.sent_at.items():
            if idx not in frame.rtt_sampled and abs(sent - echo) <= tolerance:
                return idx
        return None

    # -- estimates ----------------------------------------------------------------------------

    def _train_sample(self, frame: _SentFrame, fb: Feedback, now: float) -> None:
        if math.isnan(frame.first_rx) or fb.receive_time < frame.first_rx:
            frame.first_rx, frame.first_rx_bytes = fb.receive_time, fb.bytes_received
            frame.last_rx, frame.last_rx_bytes = fb.receive_time, fb.bytes_received
            return
        if fb.bytes_received > frame.last_rx_bytes:
            frame.last_rx, frame.last_rx_bytes = fb.receive_time, fb.bytes_received
        spread = frame.last_rx - frame.first_rx
        grown = frame.last_rx_bytes - frame.first_rx_bytes
        # Below ~1 ms the spread is scheduling noise, not the bottleneck.
        if spread >= 1e-3 and grown > 0:
            self._train_samples.append((now, 8.0 * grown / spread))

    def _update_rate(self, now: float) -> None:
        cfg = self.cfg
        dt = 0.0 if self._last_rate_update is None else max(0.0, now - self._last_rate_update)
        self._last_rate_update = now
        fresh = [bps for t, bps in self._train_samples if now - t <= cfg.train_max_age_s]
        delay = self.queue_delay_from_rtt(now)
        if fresh:
            rate = sorted(fresh)[len(fresh) // 2]
        elif not math.isnan(delay) and delay > cfg.target_delay_s:
            # Multiplicative decrease, at most once per interval, and never below what was just
            # delivered. Not straight down to the goodput: with one layer per frame the edge is
            # app-limited and the goodput says little about the link.
            if now - self._last_cut >= cfg.cut_interval_s:
                rate = max(self._rate_bps * 0.7, min(self._rate_bps, self.goodput_bps(now)))
                self._last_cut = now
            else:
                rate = self._rate_bps
        elif math.isnan(delay) or delay < cfg.target_delay_s / 2:
            rate = self._rate_bps * (1.0 + cfg.probe_gain_per_s * min(dt, 1.0))
        else:
            rate = self._rate_bps
        self._rate_bps = min(cfg.max_rate_bps, max(cfg.min_rate_bps, rate))

    def goodput_bps(self, now: float) -> float:
        horizon = now - self.cfg.window_s
        while self._acked and self._acked[0][0] < horizon:
            self._acked.popleft()
        if not self._acked:
            return 0.0
        span = self.cfg.window_s
        if self._first_send is not None:
            span = min(span, max(now - self._first_send, 1e-3))
        return 8.0 * sum(n for _, n in self._acked) / span

    def min_rtt(self, now: float) -> float:
        horizon = now - self.cfg.rtt_min_window_s
        while self._rtt_samples and self._rtt_samples[0][0] < horizon:
            self._rtt_samples.popleft()
        return min((r for _, r in self._rtt_samples), default=math.nan)

    def queue_delay_from_rtt(self, now: float) -> float:
        """The smallest of the last few RTT samples above the windowed minimum: a standing queue
        raises every sample, scheduling jitter on a busy host only some."""
        base = self.min_rtt(now)
        if math.isnan(base) or not self._recent_rtts:
            return math.nan
        return max(0.0, min(self._recent_rtts) - base)

    def _settle_after(self) -> float:
        srtt = 0.5 if math.isnan(self._srtt) else self._srtt
        return max(0.5, 3.0 * srtt)

    def _settle(self, frame: _SentFrame, now: float) -> None:
        if frame.settled or not frame.sizes:
            return
        frame.settled = True
        acked = sum(1 for idx in frame.sizes if frame.acked_mask >> idx & 1)
        self._settled.append((now, len(frame.sizes), acked))

    def loss_rate(self, now: float) -> float:
        wait = self._settle_after()
        for frame in self._frames.values():
            if not frame.settled and frame.sent_at and now - max(frame.sent_at.values()) > wait:
                self._settle(frame, now)
        horizon = now - self.cfg.loss_window_s
        while self._settled and self._settled[0][0] < horizon:
            self._settled.popleft()
        sent = sum(s for _, s, _ in self._settled)
        acked = sum(a for _, _, a in self._settled)
        return math.nan if sent == 0 else max(0.0, 1.0 - acked / sent)

    def inflight_bytes(self, now: float) -> int:
        """Bytes sent and not acknowledged, not counting what is surely lost by now."""
        horizon = max(0.5, 4.0 * (0.25 if math.isnan(self._srtt) else self._srtt))
        total = 0
        for frame in self._frames.values():
            for idx, size in frame.sizes.items():
                if not frame.acked_mask >> idx & 1 and now - frame.sent_at[idx] <= horizon:
                    total += size
        return total

    def link_up(self, now: float) -> bool:
        if not self.peer_present:
            return False
        if self._last_send is None:
            return True
        last = self._last_ack if self._last_ack is not None else self._first_send
        # Silence counts only while something was sent after the last acknowledgement.
        return not (self._last_send > last and now - last > self.cfg.silence_s)

    def estimate(self, now: float) -> LinkEstimate:
        inflight = self.inflight_bytes(now)
        return LinkEstimate(
            bandwidth_bps=self._rate_bps,
            goodput_bps=self.goodput_bps(now),
            rtt_s=self._srtt,
            min_rtt_s=self.min_rtt(now),
            loss_rate=self.loss_rate(now),
            queue_delay_s=8.0 * inflight / self._rate_bps,
            inflight_bytes=inflight,
            link_up=self.link_up(now),
        )
