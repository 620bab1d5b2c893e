"""Cloud-side assembly of layer streams: per stream, per frame, bounded; lazy prefix decoding.

Every incoming layer is checked before it is kept, in this order, and each rejection has its own
counter (the status string of AddResult):
  payload size ("oversize"), every field in range ("out_of_range", field_checks), stream allowed
  ("foreign_stream"), authentication when a key is set ("unauthenticated", "forged") and freshness of
  the signed send stamp against this clock ("stale_stamp"), header parse ("malformed"), codebook
  ("foreign_codebook"), header agrees with the message ("inconsistent"), a predicted (delta) frame
  when this cloud keeps no reference chains ("unsupported_temporal"), room for a new stream
  ("too_many_streams"), epoch (a non-current epoch is held as a candidate: "pending_epoch",
  "stale_epoch", "duplicate_stream"; epochs.py), frame within the window ("late"), frame not far ahead
  of the stream's pace ("held_ahead"; frame_pace.py), not a
  repeat ("duplicate", "conflict").

Hard rejections (a stream whose layers are all refused must be able to learn why) are kept per
stream (`rejections`), reported in query errors (`resolve_stream`, `pick_frame`) and flagged in the
AddResult for a status-only LayerFeedback to that edge (`notify`, at most once per
`status_notify_interval_s` per stream, epoch and status).

Streams: a new stream is provisional until it has sent `establish_frames` frames over `establish_s`;
provisional streams silent for `provisional_expire_s` are forgotten, and when `max_streams` are held
a new stream evicts the least valuable one (provisional before established, silent before active,
fewest frames first) instead of being refused; only established, active streams are never evicted.
`allowed_streams` (the production setting) admits only the listed ids, which are never provisional.

Memory is bounded by `max_streams` x (`max_frames_per_stream` frames and `max_bytes_per_stream` bytes,
plus a quarter of that for far-ahead frames and for each of `epochs.max_candidates` candidate epochs).
Tokens are decoded only when asked (`tokens(frame, k)`), and the last decode per frame is cached.
A Condition lets query threads wait for new layers. With `refs` (temporal_refs.TemporalRefs), every
accepted base layer also goes to its stream's reference chain, and delta frames decode against it.
"""
from __future__ import annotations

import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prosem_core import auth, wire_codes
from prosem_core.epochs import EpochConfig, EpochEvidence, is_duplicate, silence_needed_s, takeover_ready
from prosem_core.field_checks import FieldError, check_layer, check_stream_id, clip
from prosem_core.frame_pace import FramePace, PaceConfig
from prosem_core.stream_resolver import Rejection, StreamChoice, StreamView, resolve_stream
from prosem_core.stream_state import Candidate, FrameAssembly, LayerIn, Placed, StreamState
from prosem_core.temporal_refs import TemporalRefs

__all__ = ["AddResult", "Assembler", "AssemblyConfig", "FrameAssembly", "FramePick", "LayerIn", "StreamState", "MAX_LAYERS"]

MAX_LAYERS = 32  # LayerFeedback.received_mask is a uint32
MAX_NOTIFY_KEYS = 256

# Hard rejections -> the LayerFeedback status the rejected edge is told.
_FEEDBACK_STATUS = {
    "out_of_range": wire_codes.STATUS_REJECTED,
    "oversize": wire_codes.STATUS_REJECTED,
    "foreign_stream": wire_codes.STATUS_REJECTED,
    "unauthenticated": wire_codes.STATUS_REJECTED,
    "forged": wire_codes.STATUS_REJECTED,
    "stale_stamp": wire_codes.STATUS_REJECTED,
    "malformed": wire_codes.STATUS_REJECTED,
    "foreign_codebook": wire_codes.STATUS_REJECTED,
    "inconsistent": wire_codes.STATUS_REJECTED,
    "conflict": wire_codes.STATUS_REJECTED,
    "unsupported_temporal": wire_codes.STATUS_REJECTED,
    "too_many_streams": wire_codes.STATUS_REJECTED,
    "stale_epoch": wire_codes.STATUS_STALE_EPOCH,
    "duplicate_stream": wire_codes.STATUS_DUPLICATE_STREAM,
}


@dataclass
class AssemblyConfig:
    codebook_id: str  # the only codebook this cloud decodes with
    max_streams: int = 16
    max_frames_per_stream: int = 16
    max_bytes_per_stream: int = 8 << 20
    max_layer_bytes: int = 64 << 10
    allowed_streams: tuple[str, ...] = ()  # empty = any (up to max_streams); the production setting lists them
    auth_key: bytes = b""
    auth_max_skew_s: float = 30.0  # keyed: a signed send stamp further than this from our clock is refused
    establish_frames: int = 5  # a stream is provisional until it sent this many frames ...
    establish_s: float = 2.0  # ... over at least this long
    provisional_expire_s: float = 5.0  # a provisional stream silent this long is forgotten
    evict_idle_s: float = 3.0  # an established stream silent this long may make room for a new one
    status_notify_interval_s: float = 1.0  # status-only feedback to a rejected edge at most this often
    max_rejection_records: int = 64
    epochs: EpochConfig = field(default_factory=EpochConfig)
    pace: PaceConfig = field(default_factory=PaceConfig)


@dataclass
class AddResult:
    status: str  # "accepted" or why not (a counter name)
    detail: str = ""
    frame: FrameAssembly | None = None
    # For the node's feedback: what to tell the edge of this layer (stream_id, epoch), and whether a
    # status-only LayerFeedback should go out now (hard rejections, throttled).
    feedback_status: int = wire_codes.STATUS_OK
    notify: bool = False
    stream_id: str = ""
    epoch: int = 0
    frame_seq: int = 0

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


@dataclass(frozen=True)
class FramePick:
    frame: FrameAssembly | None
    error_code: int = wire_codes.ERROR_NONE
    error: str = ""


class Assembler:
    """Thread-safe: layer callbacks add, query threads read and wait.

    `clock` stamps arrivals (the node passes its ROS clock: arrival times go into feedback stamps);
    `wall_clock` is what signed send stamps are compared with (system time; both ends keep it with
    chrony/NTP). They are the same clock in a node; tests pass fakes.
    """

    def __init__(
        self,
        config: AssemblyConfig,
        read_header: Callable[[bytes], Any],
        decode: Callable[[Sequence[bytes]], np.ndarray],
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        refs: TemporalRefs | None = None,
    ) -> None:
        self.cfg = config
        self.refs = refs
        self._read_header = read_header
        self._decode = decode
        self._clock = clock
        self._wall_clock = wall_clock
        self.streams: OrderedDict[str, StreamState] = OrderedDict()
        self.rejections: OrderedDict[str, Rejection] = OrderedDict()
        self.counters: Counter[str] = Counter()
        self.changed = threading.Condition(threading.RLock())
        self.version = 0  # bumped on every accepted layer; waiters compare it
        self._notified: OrderedDict[tuple[str, int, str], float] = OrderedDict()

    # -- ingest -------------------------------------------------------------------------------

    def add(self, layer: LayerIn, trusted: bool = False, namespace: str = "") -> AddResult:
        """Check and keep one layer. trusted=True skips authentication (layers this process coded).
        `namespace`: where the layer arrived (for resolve_stream's per-namespace default)."""
        self.counters["received"] += 1
        cfg = self.cfg
        if len(layer.payload) > cfg.max_layer_bytes:
            return self._reject(layer, "oversize", f"{len(layer.payload)} B > {cfg.max_layer_bytes} B")
        try:
            check_layer(layer, cfg.max_layer_bytes)
        except FieldError as exc:
            return self._reject(layer, "out_of_range", str(exc))
        if cfg.allowed_streams and layer.stream_id not in cfg.allowed_streams:
            return self._reject(layer, "foreign_stream", f"stream {layer.stream_id!r} is not in allowed_streams")
        keyed = bool(cfg.auth_key) and not trusted
        if keyed:
            if not layer.auth_tag:
                return self._reject(layer, "unauthenticated", "no auth tag and a key is configured")
            if not auth.verify(cfg.auth_key, layer.identity(), layer.payload, layer.auth_tag):
                return self._reject(layer, "forged", "auth tag does not match (another key, or altered fields)")
            skew = auth.stamp_skew_s(layer.send_stamp_ns, self._wall_clock())
            if abs(skew) > cfg.auth_max_skew_s:
                return self._reject(layer, "stale_stamp", f"signed send stamp {skew:+.1f} s from this clock (window "
                                    f"+-{cfg.auth_max_skew_s:g} s): a replay, or clocks not synchronised (run chrony/NTP)")
        try:
            header = self._read_header(bytes(layer.payload))
        except Exception as exc:  # the codec raises CodecError; anything else is as malformed
            return self._reject(layer, "malformed", f"bad payload: {clip(str(exc), 120)}")
        if header.codebook_id != cfg.codebook_id or layer.codebook_id != cfg.codebook_id:
            theirs = layer.codebook_id if layer.codebook_id != cfg.codebook_id else header.codebook_id
            return self._reject(layer, "foreign_codebook", f"foreign codebook {clip(theirs, 12)} (ours {cfg.codebook_id[:12]})")
        mismatch = [
            name
            for name, msg_value, hdr_value in (
                ("frame_seq", layer.frame_seq, header.frame_seq),  # both < 2^32 (field_checks)
                ("layer_index", layer.layer_index, header.layer_index),
                ("layer_count", layer.layer_count, header.layer_count),
            )
            if int(msg_value) != int(hdr_value)
        ]
        if mismatch:
            return self._reject(layer, "inconsistent", f"message and payload header disagree on {', '.join(mismatch)}")
        if not getattr(header, "keyframe", True) and self.refs is None:
            # Temporal layers need the reference tokens the edge used; this cloud keeps no chains.
            return self._reject(layer, "unsupported_temporal",
                                f"frame {layer.frame_seq} is coded against frame {header.ref_frame_seq} "
                                "(start the cloud with temporal:=true, or the edge with temporal:=false)")
        count, index = int(header.layer_count), int(header.layer_index)
        if not (0 < count <= MAX_LAYERS and 0 <= index < count):
            return self._reject(layer, "malformed", f"layer {index} of {count}")
        with self.changed:
            return self._route(layer, header, index, count, keyed, namespace)

    def _reject(self, layer: LayerIn | None, status: str, detail: str) -> AddResult:
        """Count a rejection; for hard ones keep the reason per stream and decide whether to notify."""
        self.counters[status] += 1
        result = AddResult(status, detail)
        feedback = _FEEDBACK_STATUS.get(status)
        if layer is None or feedback is None:
            return result
        try:  # a record needs a stream id and epoch that are themselves in range
            sid = check_stream_id(layer.stream_id)
            epoch = int(layer.epoch)
            if not 0 <= epoch < 1 << 32:
                return result
        except (FieldError, TypeError, ValueError):
            return result
        now = self._clock()
        result.feedback_status, result.stream_id, result.epoch = feedback, sid, epoch
        result.frame_seq = int(layer.frame_seq) if isinstance(layer.frame_seq, int) and 0 <= layer.frame_seq < 1 << 32 else 0
        with self.changed:
            old = self.rejections.pop(sid, None)
            count = 1 if old is None or old.status != status else old.count + 1
            self.rejections[sid] = Rejection(status, detail, epoch, count, now)
            while len(self.rejections) > self.cfg.max_rejection_records:
                self.rejections.popitem(last=False)
            key = (sid, epoch, status)
            last = self._notified.pop(key, -math.inf)
            result.notify = now - last >= self.cfg.status_notify_interval_s
            self._notified[key] = now if result.notify else last
            while len(self._notified) > MAX_NOTIFY_KEYS:
                self._notified.popitem(last=False)
        return result

    def _new_stream(self, layer: LayerIn, now: float) -> StreamState | None:
        if len(self.streams) >= self.cfg.max_streams:
            victim = self._eviction_victim(now)
            if victim is None:
                return None
            del self.streams[victim]
            self.counters["streams_evicted"] += 1
        stream = StreamState(layer.stream_id, layer.epoch, pace=FramePace(self.cfg.pace), created_at=now,
                             allowed=layer.stream_id in self.cfg.allowed_streams)
        self.streams[layer.stream_id] = stream
        self.counters["streams_added"] += 1
        return stream

    def established(self, stream: StreamState, now: float) -> bool:
        """Allowed, or sent enough frames over long enough; else provisional (expires fast, evicted first)."""
        return stream.allowed or (stream.frames_total >= self.cfg.establish_frames
                                  and now - stream.created_at >= self.cfg.establish_s)

    def _eviction_victim(self, now: float) -> str | None:
        """The least valuable stream, or None when every stream is established and active."""
        def value(s: StreamState) -> tuple:
            established = self.established(s, now)
            active = now - s.last_arrival < self.cfg.evict_idle_s
            return (established and active, established, active, s.frames_total, s.last_arrival)

        pool = [s for s in self.streams.values() if not s.allowed]
        if not pool:
            return None
        victim = min(pool, key=value)
        return None if value(victim)[0] else victim.stream_id

    def _route(self, layer: LayerIn, header: Any, index: int, count: int, keyed: bool, namespace: str) -> AddResult:
        now = self._clock()
        stream = self.streams.get(layer.stream_id)
        if stream is None:
            stream = self._new_stream(layer, now)
            if stream is None:
                return self._reject(layer, "too_many_streams", f"already {len(self.streams)} established, active streams "
                                    "(raise max_streams, or list the robots in allowed_streams)")
        elif layer.epoch != stream.epoch:
            return self._candidate_layer(stream, layer, header, index, count, keyed, now)
        stream.last_arrival = now
        if keyed:
            stream.newest_stamp_ns = max(stream.newest_stamp_ns, layer.send_stamp_ns)
        for candidate in stream.candidates.values():
            candidate.evidence.on_current_layer()
        if namespace:
            stream.namespace = namespace
        cfg = self.cfg
        placed = stream.place(layer.frame_seq, index, count, header, bytes(layer.payload), layer.send_stamp, now,
                              cfg.max_frames_per_stream, ahead_limit=stream.pace.allowed_ahead(now))
        if placed.status == "held_ahead":
            self.counters["frames_dropped_ahead"] += stream.drop_ahead(
                now, cfg.pace.max_ahead_frames, cfg.max_bytes_per_stream // 4, cfg.pace.ahead_expire_s)
            if stream.promote_ahead(now, cfg.pace.ahead_confirm_frames, cfg.pace.ahead_slack_frames):
                self.counters["ahead_promoted"] += 1
                placed = Placed("accepted", frame=placed.frame)
            else:
                self.counters["held_ahead"] += 1
                return AddResult("held_ahead", placed.detail, stream_id=stream.stream_id, epoch=stream.epoch,
                                 frame_seq=layer.frame_seq)
        if placed.status in _FEEDBACK_STATUS:  # "inconsistent", "conflict": hard, the edge is told
            return self._reject(layer, placed.status, placed.detail)
        if placed.status != "accepted":  # "late", "duplicate": normal on a lossy, repairing link
            self.counters[placed.status] += 1
            return AddResult(placed.status, placed.detail, stream_id=stream.stream_id, epoch=stream.epoch)
        return self._accepted(stream, placed.frame, now)

    def _accepted(self, stream: StreamState, frame: FrameAssembly | None, now: float) -> AddResult:
        if self.refs is not None and frame is not None and not frame.base_offered and frame.layers[0] is not None:
            frame.base_offered = True
            self.refs.offer(frame.stream_id, frame.epoch, frame.layers[0])
        self.streams.move_to_end(stream.stream_id)
        self.counters["frames_evicted"] += stream.evict(self.cfg.max_frames_per_stream, self.cfg.max_bytes_per_stream)
        self.counters["accepted"] += 1
        self.version += 1
        self.changed.notify_all()
        status, _ = self._stream_status(stream, now)
        return AddResult("accepted", frame=frame, feedback_status=status, stream_id=stream.stream_id, epoch=stream.epoch,
                         frame_seq=frame.frame_seq if frame is not None else 0)

    # -- epochs ---------------------------------------------------------------------------------

    def _candidate_layer(self, stream: StreamState, layer: LayerIn, header: Any, index: int, count: int, keyed: bool,
                         now: float) -> AddResult:
        """A layer of a non-current epoch: hold it with its epoch's evidence; take over, or say why not."""
        ecfg = self.cfg.epochs
        self._expire_candidates(stream, now)
        candidate = stream.candidates.get(layer.epoch)
        if candidate is None:
            while len(stream.candidates) >= ecfg.max_candidates:
                stream.candidates.popitem(last=False)
                self.counters["candidates_dropped"] += 1
            evidence = EpochEvidence(layer.epoch, first_seen=now, current_frames_at_first_seen=stream.frames_total)
            candidate = Candidate(evidence, StreamState(stream.stream_id, layer.epoch, pace=FramePace(self.cfg.pace),
                                                        created_at=now))
            stream.candidates[layer.epoch] = candidate
        stream.candidates.move_to_end(layer.epoch)
        ev = candidate.evidence
        ev.last_seen = now
        if keyed:
            ev.newest_stamp_ns = max(ev.newest_stamp_ns, layer.send_stamp_ns)
        held = candidate.state
        placed = held.place(layer.frame_seq, index, count, header, bytes(layer.payload), layer.send_stamp, now,
                            self.cfg.max_frames_per_stream)
        held.last_arrival = now
        held.evict(self.cfg.max_frames_per_stream, self.cfg.max_bytes_per_stream // 4)
        silent = now - stream.last_arrival
        interval = stream.pace.frame_interval_s()
        if placed.new_frame:
            ev.on_frame(current_alive=silent < silence_needed_s(ecfg, interval))
        stamps_newer = ev.newest_stamp_ns > stream.newest_stamp_ns or (
            stream.newest_stamp_ns * 1e-9 < self._wall_clock() - self.cfg.auth_max_skew_s)
        if takeover_ready(ecfg, ev, keyed, silent, interval, stamps_newer):
            return self._take_over(stream, candidate, placed, now)
        if is_duplicate(ecfg, ev, stream.frames_total):
            if not ev.reported_duplicate:
                ev.reported_duplicate = True
                self.counters["duplicate_streams_detected"] += 1
            stream.duplicate_until = now + ecfg.duplicate_hold_s
            stream.duplicate_epoch = layer.epoch
            return self._reject(layer, "duplicate_stream", f"another edge sends stream {stream.stream_id!r} (epochs "
                                f"{stream.epoch} and {layer.epoch}); epoch {stream.epoch} is kept: give each robot "
                                "its own stream_id")
        if layer.epoch in stream.retired_epochs:
            return self._reject(layer, "stale_epoch", f"epoch {layer.epoch} of stream {stream.stream_id!r} was replaced "
                                f"by epoch {stream.epoch} (the edge restarted)")
        self.counters["pending_epoch"] += 1
        needed = ecfg.keyed_takeover_frames if keyed else ecfg.takeover_frames
        return AddResult("pending_epoch", f"new epoch {layer.epoch} of stream {stream.stream_id!r}: {ev.frames_in_row} of "
                         f"{needed} frames in a row, current epoch {stream.epoch} silent {silent:.1f} of "
                         f"{silence_needed_s(ecfg, interval):.1f} s", stream_id=stream.stream_id, epoch=layer.epoch,
                         frame_seq=layer.frame_seq)

    def _take_over(self, stream: StreamState, candidate: Candidate, placed: Placed, now: float) -> AddResult:
        """The candidate epoch becomes the stream's current one, with the frames it already sent."""
        old, held = stream.epoch, candidate.state
        del stream.candidates[held.epoch]
        stream.retired_epochs = ([e for e in stream.retired_epochs if e != held.epoch] + [old])[-self.cfg.epochs.retired_epochs:]
        stream.epoch = held.epoch
        stream.frames, stream.bytes_held = held.frames, held.bytes_held
        stream.newest_seq, stream.window_floor = held.newest_seq, held.window_floor
        stream.ahead.clear()
        stream.ahead_bytes = 0
        stream.pace = FramePace(self.cfg.pace)
        for seq, frame in stream.frames.items():  # in frame_seq order
            stream.pace.observe(seq, frame.first_arrival)
        stream.frames_total += held.frames_total
        stream.newest_stamp_ns = candidate.evidence.newest_stamp_ns
        stream.last_arrival = now
        stream.duplicate_until, stream.duplicate_epoch = -math.inf, -1
        stream.layers_expected, stream.layers_arrived = held.layers_expected, held.layers_arrived
        for other in stream.candidates.values():
            other.evidence.on_current_layer()
        self.counters["epoch_changes"] += 1
        if placed.status != "accepted":
            self.counters[placed.status] += 1
            self.version += 1
            self.changed.notify_all()
            return AddResult(placed.status, placed.detail, stream_id=stream.stream_id, epoch=stream.epoch)
        return self._accepted(stream, placed.frame, now)

    def _expire_candidates(self, stream: StreamState, now: float) -> None:
        expire = self.cfg.epochs.candidate_expire_s
        for epoch in [e for e, c in stream.candidates.items() if now - c.evidence.last_seen > expire]:
            del stream.candidates[epoch]
            self.counters["candidates_expired"] += 1

    def _stream_status(self, stream: StreamState, now: float) -> tuple[int, str]:
        if now < stream.duplicate_until:
            return wire_codes.STATUS_DUPLICATE_STREAM, (f"duplicate stream: another edge sends {stream.stream_id!r} "
                                                        f"(epoch {stream.duplicate_epoch}); give each robot its own stream_id")
        return wire_codes.STATUS_OK, ""

    def feedback_status(self, stream_id: str) -> tuple[int, str]:
        """(LayerFeedback status, reason) for feedback to the stream's current edge: OK, or
        STATUS_DUPLICATE_STREAM while another edge sends under the same id."""
        with self.changed:
            stream = self.streams.get(stream_id)
            return (wire_codes.STATUS_OK, "") if stream is None else self._stream_status(stream, self._clock())

    # -- housekeeping -----------------------------------------------------------------------------

    def expire_streams(self, max_idle_s: float) -> list[str]:
        """Forget streams silent for longer than max_idle_s (a robot that went away), provisional ones
        silent for provisional_expire_s, and old candidates, far-ahead frames and notify marks."""
        now = self._clock()
        cfg = self.cfg
        with self.changed:
            gone = [sid for sid, s in self.streams.items()
                    if now - s.last_arrival > max_idle_s
                    or (not self.established(s, now) and now - s.last_arrival > cfg.provisional_expire_s)]
            for sid in gone:
                provisional = not self.established(self.streams[sid], now)
                del self.streams[sid]
                self.counters["streams_expired_provisional" if provisional else "streams_expired"] += 1
            for stream in self.streams.values():
                self._expire_candidates(stream, now)
                self.counters["frames_dropped_ahead"] += stream.drop_ahead(
                    now, cfg.pace.max_ahead_frames, cfg.max_bytes_per_stream // 4, cfg.pace.ahead_expire_s)
            for sid in [sid for sid, r in self.rejections.items() if now - r.last_at > max_idle_s]:
                del self.rejections[sid]
            for key in [k for k, t in self._notified.items() if now - t > max_idle_s]:
                del self._notified[key]
        return gone

    # -- read side ----------------------------------------------------------------------------

    def add_complete_frame(self, stream_id: str, epoch: int, frame_seq: int, layers: Sequence[bytes],
                           namespace: str = "") -> AddResult:
        """Insert a whole locally coded frame (full_cloud mode: the cloud ran the encoder)."""
        result = AddResult("empty")
        for i, payload in enumerate(layers):
            header = self._read_header(payload)
            result = self.add(LayerIn(stream_id, epoch, frame_seq, i, len(layers), header.codebook_id, payload),
                              trusted=True, namespace=namespace)
            if not result.accepted:
                return result
        return result

    def resolve_stream(self, requested: str, namespace: str = "", default_stream: str = "",
                       namespace_defaults: Mapping[str, str] | None = None) -> StreamChoice:
        """The stream a query means (stream_resolver): requested id, or the namespace's/only stream."""
        with self.changed:
            now = self._clock()
            views = [StreamView(s.stream_id, s.namespace, self.established(s, now)) for s in self.streams.values()]
            return resolve_stream(requested, views, dict(self.rejections), now, namespace, default_stream, namespace_defaults)

    def latest_frame(self, stream_id: str) -> FrameAssembly | None:
        with self.changed:
            stream = self.streams.get(stream_id)
            return None if stream is None else stream.latest_decodable(self.cfg.pace.latest_window_s)

    def pick_frame(self, stream_id: str, frame_seq: int = -1, stale_s: float = 3.0, stale_frames: float = 3.0) -> FramePick:
        """The frame a query is about: frame_seq, or the latest (-1) unless the stream is stale: silent
        for stale_s, or for stale_frames of its own frame intervals when that is longer (a vision half
        that takes seconds per frame sends a frame every few seconds and is not stale between them)."""
        with self.changed:
            now = self._clock()
            stream = self.streams.get(stream_id)
            if stream is None:
                return FramePick(None, wire_codes.ERROR_UNKNOWN_STREAM, f"unknown stream {clip(stream_id)!r}")
            if frame_seq >= 0:
                frame = stream.frames.get(frame_seq)
                if frame is None:
                    held = f"{min(stream.frames)}..{max(stream.frames)}" if stream.frames else "none"
                    return FramePick(None, wire_codes.ERROR_NO_FRAME,
                                     f"frame {frame_seq} not held for stream {stream_id!r} (held: {held})")
                return FramePick(frame)
            frame = stream.latest_decodable(self.cfg.pace.latest_window_s)
            if frame is None:
                return FramePick(None, wire_codes.ERROR_NO_FRAME,
                                 f"stream {stream_id!r} has no decodable frame yet (no base layer arrived)")
            idle = now - stream.last_arrival
            rate = stream.pace.rate_hz()
            if rate > 0:  # NaN until the stream's pace is known
                stale_s = max(stale_s, stale_frames / rate)
            if idle > stale_s:
                why = ""
                rejected = self.rejections.get(stream_id)
                if rejected is not None and rejected.last_at > stream.last_arrival:
                    why = f"; its layers are rejected since: {rejected.describe(now)}"
                code = wire_codes.ERROR_REJECTED if why else wire_codes.ERROR_STALE_STREAM
                return FramePick(None, code, f"stream {stream_id!r} is stale: nothing accepted for {idle:.1f} s; newest "
                                 f"frame {frame.frame_seq} (ask for it by frame_seq to use it anyway){why}")
            return FramePick(frame)

    def take_loss_counts(self, stream_id: str) -> tuple[int, int]:
        with self.changed:
            stream = self.streams.get(stream_id)
            if stream is None:
                return 0, 0
            top = (1 << 32) - 1  # LayerFeedback fields are uint32
            counts = (min(stream.layers_expected, top), min(stream.layers_arrived, top))
            stream.layers_expected = stream.layers_arrived = 0
            return counts

    def layers_needed(self, frame: FrameAssembly, min_fidelity: float) -> int:
        """How many layers to pull so the frame likely reaches min_fidelity.

        The fidelity of a layer index is similar from frame to frame, so the stream's recent
        values pick the count; with nothing known, ask for the whole stack.
        """
        stream = self.streams.get(frame.stream_id)
        table = stream.fidelity_by_index if stream else {}
        for k in range(max(frame.prefix, 1), frame.layer_count + 1):
            known = frame.fidelities[k - 1]
            value = known if known == known else table.get(k - 1)  # NaN check: not received
            if value is None:
                return frame.layer_count
            if value >= min_fidelity:
                return k
        return frame.layer_count

    def tokens(self, frame: FrameAssembly, k: int | None = None) -> tuple[np.ndarray, int]:
        """Decode the first k layers (default: the whole prefix held); cached per frame."""
        with self.changed:
            prefix = frame.prefix
            k = prefix if k is None else min(k, prefix)
            if k <= 0:
                raise ValueError(f"frame {frame.frame_seq} of {frame.stream_id!r} has no base layer")
            cached = frame._decoded
            if cached is not None and cached[0] == k:
                return cached[1], k
            layers = [layer for layer in frame.layers[:k] if layer is not None]
        # Outside the lock: other streams keep flowing.
        tokens = self._decode(layers) if self.refs is None else self.refs.tokens(frame.stream_id, frame.epoch, layers)
        with self.changed:
            frame._decoded = (k, tokens)
        self.counters["decodes"] += 1
        return tokens, k

    def wait_for_change(self, seen_version: int, timeout_s: float) -> int:
        """Block (a query thread, never the executor) until a layer is accepted or the timeout."""
        with self.changed:
            if self.version == seen_version and timeout_s > 0:
                self.changed.wait(timeout_s)
            return self.version

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self.changed:
            now = self._clock()
            return {
                sid: {
                    "epoch": s.epoch,
                    "frames": list(s.frames),
                    "bytes_held": s.bytes_held,
                    "newest_seq": s.newest_seq,
                    "idle_s": now - s.last_arrival,
                    "established": self.established(s, now),
                    "namespace": s.namespace,
                    "held_ahead": list(s.ahead),
                    "candidate_epochs": list(s.candidates),
                    "duplicate": now < s.duplicate_until,
                }
                for sid, s in self.streams.items()
            }
