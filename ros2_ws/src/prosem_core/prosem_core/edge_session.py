"""Edge-side sending logic, ROS-free: frame numbering, what to push, the recent-frames buffer, feedback
and pull requests. The edge node feeds it frames and feedback and publishes what it returns.

Feedback comes off a topic anyone on the domain can publish to, so `handle_feedback` checks every
field's range, ignores other streams and other epochs, and with a key ignores (and counts) feedback
without a valid tag (auth.verify_feedback). Receipts reach the estimator, which counts only layers
this edge sent, once each (link/estimator.py). Pulls are budgeted in bytes: a token bucket filled at
`pull_share` of the estimated uplink rate, so a request for 32 layers (forged or buggy) sends at most
what the link estimate allows; what does not fit is suppressed and counted (the cloud repeats the
request while it still needs the layers).
"""
from __future__ import annotations

import math
import random
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from prosem_core import auth, wire_codes
from prosem_core.field_checks import FRAME_SEQ_LIMIT, FieldError, check_feedback
from prosem_core.link.controller import FramePlan, RateController
from prosem_core.link.estimator import Feedback, LinkEstimator

_STATUS_NAMES = {wire_codes.STATUS_REJECTED: "rejected", wire_codes.STATUS_DUPLICATE_STREAM: "duplicate_stream",
                 wire_codes.STATUS_STALE_EPOCH: "stale_epoch"}


@dataclass
class EdgeSessionConfig:
    stream_id: str = "robot0"
    buffer_frames: int = 16  # recent frames whose layers can still be pulled
    pull_resend_min_s: float = 0.1  # do not resend the same layer faster than max(this, srtt)
    auth_key: bytes = b""  # with a key: layers are signed, feedback without a valid tag is ignored
    pull_share: float = 0.5  # share of the estimated uplink rate that pulled layers may use
    pull_burst_s: float = 0.5  # the pull budget holds this many seconds of that rate ...
    pull_min_burst_bytes: int = 64 << 10  # ... and at least one largest layer


@dataclass
class PullRequest:
    """The LayerFeedback fields that concern pulls."""

    frame_seq: int
    received_mask: int
    pull_layers: int


@dataclass
class FeedbackOutcome:
    """What one LayerFeedback did: `pulls` are layer indices of `frame_seq` to publish now."""

    accepted: bool
    reason: str = ""  # counter name when not accepted
    frame_seq: int = 0
    pulls: list[int] = field(default_factory=list)
    status: int = wire_codes.STATUS_OK  # what the cloud says of this stream
    status_reason: str = ""


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
        self.epoch = epoch if epoch is not None else self._new_epoch()
        self.next_seq = 0
        self.frames: OrderedDict[int, _HeldFrame] = OrderedDict()
        self.counters: Counter[str] = Counter()
        self.last_plan = FramePlan(False, 0, "no frame yet")
        self.cloud_status: tuple[int, str, float] = (wire_codes.STATUS_OK, "", math.nan)  # (status, reason, when)
        self._pull_tokens = float(config.pull_min_burst_bytes)
        self._pull_refilled: float | None = None

    @staticmethod
    def _new_epoch() -> int:
        return random.SystemRandom().randrange(1, 2**32)

    def plan_frame(self, sizes: list[int], now: float) -> FramePlan:
        plan = self.controller.plan(sizes, self.estimator.estimate(now), now)
        self.last_plan = plan
        self.counters["frames_planned"] += 1
        if not plan.send:
            self.counters["frames_skipped_rate"] += 1
        return plan

    def add_frame(self, layers: list[bytes]) -> int:
        """Keep a frame's layers for pulls; returns its frame_seq (only sent frames get one, so a
        gap in frame_seq at the cloud means a lost frame, not a skipped one). Frame numbers stay below
        2^32 (the layer header's field): at that point the session starts a new epoch."""
        if self.next_seq >= FRAME_SEQ_LIMIT:
            self.epoch = self._new_epoch()
            self.next_seq = 0
            self.frames.clear()
            self.counters["epoch_rollovers"] += 1
        seq = self.next_seq
        self.next_seq += 1
        self.frames[seq] = _HeldFrame(list(layers))
        while len(self.frames) > self.cfg.buffer_frames:
            self.frames.popitem(last=False)
        return seq

    def layer(self, frame_seq: int, index: int) -> bytes | None:
        frame = self.frames.get(frame_seq)
        return None if frame is None or index >= len(frame.layers) else frame.layers[index]

    def layer_tag(self, frame_seq: int, index: int, layer_count: int, codebook_id: str, send_stamp_ns: int,
                  payload: bytes) -> bytes:
        """The SemanticLayer.auth_tag for a layer sent now (b"" without a key). send_stamp_ns must be
        the message's send_stamp exactly (sec * 1e9 + nanosec): the cloud checks it for freshness."""
        if not self.cfg.auth_key:
            return b""
        identity = auth.LayerIdentity(self.cfg.stream_id, self.epoch, frame_seq, index, layer_count, codebook_id, send_stamp_ns)
        return auth.sign(self.cfg.auth_key, identity, payload)

    def mark_sent(self, frame_seq: int, index: int, nbytes: int, now: float) -> None:
        frame = self.frames.get(frame_seq)
        if frame is not None:
            frame.last_sent[index] = now
        self.estimator.on_sent(frame_seq, index, nbytes, now)
        self.counters["layers_sent"] += 1
        self.counters["bytes_sent"] += nbytes

    def on_feedback(self, fb: Feedback, now: float) -> None:
        """A receipt already checked (handle_feedback does the checks); the estimator takes what it trusts."""
        self.counters["feedback"] += 1
        if not self.estimator.on_feedback(fb, now):
            self.counters["receipts_ignored"] += 1

    def handle_feedback(self, fields: auth.FeedbackFields, auth_tag: bytes, now: float,
                        echo_override: float | None = None) -> FeedbackOutcome:
        """Everything one LayerFeedback message does: checks, receipt, cloud status, pulls.

        `echo_override`: the send time to use instead of the echoed stamp (full_cloud: the edge kept
        its own send time per frame). Returns which layers to (re)send now; the node publishes them
        (and calls mark_sent for each).
        """
        try:
            check_feedback(fields)
        except FieldError as exc:
            return self._ignore("feedback_out_of_range", str(exc))
        if fields.stream_id != self.cfg.stream_id:
            return self._ignore("feedback_other_stream", "")  # another robot's, on a shared topic: not an error
        if self.cfg.auth_key:
            if not auth_tag:
                return self._ignore("feedback_unauthenticated", "no auth tag and a key is configured")
            if not auth.verify_feedback(self.cfg.auth_key, fields, bytes(auth_tag)):
                return self._ignore("feedback_forged", "auth tag does not match")
        if fields.epoch != self.epoch:
            return self._ignore("feedback_stale_epoch", f"epoch {fields.epoch} is not ours ({self.epoch})")
        if fields.status != wire_codes.STATUS_OK:
            self.counters["cloud_status_" + _STATUS_NAMES[fields.status]] += 1
        self.cloud_status = (fields.status, fields.reason, now)
        echo = echo_override if echo_override is not None else fields.echo_send_stamp_ns * 1e-9
        self.on_feedback(Feedback(fields.frame_seq, fields.received_mask, fields.bytes_received,
                                  fields.receive_stamp_ns * 1e-9, echo, float(fields.hold_s)), now)
        pulls: list[int] = []
        if fields.pull_layers > fields.prefix_layers:
            pulls = self.pull(PullRequest(fields.frame_seq, fields.received_mask, fields.pull_layers), now)
        return FeedbackOutcome(True, "", fields.frame_seq, pulls, fields.status, fields.reason)

    def _ignore(self, reason: str, detail: str) -> FeedbackOutcome:
        self.counters[reason] += 1
        return FeedbackOutcome(False, reason, status_reason=detail)

    def _pull_budget(self, now: float) -> float:
        """Bytes of pulled layers that may go now (token bucket at pull_share of the estimated rate)."""
        rate_Bps = self.cfg.pull_share * self.estimator.estimate(now).bandwidth_bps / 8.0
        capacity = max(rate_Bps * self.cfg.pull_burst_s, float(self.cfg.pull_min_burst_bytes))
        if self._pull_refilled is not None:
            self._pull_tokens += rate_Bps * max(0.0, now - self._pull_refilled)
        self._pull_tokens = min(self._pull_tokens, capacity)
        self._pull_refilled = now
        return self._pull_tokens

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
        budget = self._pull_budget(now)
        granted = []
        for index in wanted:  # in index order: a later layer is useless without the earlier ones
            cost = len(frame.layers[index])
            if cost > budget:
                self.counters["pull_budget_suppressed"] += len(wanted) - len(granted)
                break
            budget -= cost
            granted.append(index)
        self._pull_tokens = budget
        self.counters["pull_requests"] += 1
        self.counters["layers_pulled"] += len(granted)
        return granted
