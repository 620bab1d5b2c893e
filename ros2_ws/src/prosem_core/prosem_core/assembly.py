"""Cloud-side assembly of layer streams: per stream, per frame, bounded; lazy prefix decoding.

Every incoming layer is checked before it is kept, in this order, and each rejection has its own
counter: stream allowed and room for it, authentication (when a key is set), header parse
(magic/version/CRC via the codec's `read_header`), header agrees with the message fields,
codebook is ours, epoch current, frame still within the window, not a duplicate.

Memory is bounded by `max_streams` x (`max_frames_per_stream` frames and `max_bytes_per_stream`
bytes): the oldest frames go first. Tokens are decoded only when asked (`tokens(frame, k)`),
and the last decode per frame is cached. A Condition lets query threads wait for new layers.
"""
from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prosem_core import auth

MAX_LAYERS = 32  # LayerFeedback.received_mask is a uint32


@dataclass
class LayerIn:
    """A SemanticLayer's fields, ROS-free (the node converts the message)."""

    stream_id: str
    epoch: int
    frame_seq: int
    layer_index: int
    layer_count: int
    codebook_id: str
    payload: bytes
    token_shape: tuple[int, ...] = ()
    fidelity: float = float("nan")
    send_stamp: float = 0.0  # edge clock, echoed in feedback
    auth_tag: bytes = b""
    codec_id: str = ""

    def identity(self) -> auth.LayerIdentity:
        return auth.LayerIdentity(self.stream_id, self.epoch, self.frame_seq, self.layer_index, self.layer_count, self.codebook_id)


@dataclass
class AssemblyConfig:
    codebook_id: str  # the only codebook this cloud decodes with
    max_streams: int = 16
    max_frames_per_stream: int = 16
    max_bytes_per_stream: int = 8 << 20
    max_layer_bytes: int = 64 << 10
    allowed_streams: tuple[str, ...] = ()  # empty = any (up to max_streams)
    auth_key: bytes = b""
    retired_epochs: int = 8


@dataclass
class FrameAssembly:
    stream_id: str
    epoch: int
    frame_seq: int
    layer_count: int
    codebook_id: str
    token_shape: tuple[int, ...]
    layers: list[bytes | None]
    fidelities: list[float]
    first_arrival: float
    last_arrival: float = 0.0
    last_send_stamp: float = 0.0
    bytes_total: int = 0
    max_index_seen: int = -1
    _decoded: tuple[int, np.ndarray] | None = None

    @property
    def prefix(self) -> int:
        """Layers 0..prefix-1 all present: what can be decoded."""
        for i, layer in enumerate(self.layers):
            if layer is None:
                return i
        return self.layer_count

    @property
    def fidelity(self) -> float:
        k = self.prefix
        return float(self.fidelities[k - 1]) if k else 0.0

    @property
    def received_mask(self) -> int:
        return sum(1 << i for i, layer in enumerate(self.layers) if layer is not None)

    @property
    def complete(self) -> bool:
        return self.prefix == self.layer_count

    def prefix_bytes(self, k: int) -> int:
        return sum(len(layer) for layer in self.layers[:k] if layer is not None)


@dataclass
class StreamState:
    stream_id: str
    epoch: int
    frames: OrderedDict[int, FrameAssembly] = field(default_factory=OrderedDict)
    bytes_held: int = 0
    newest_seq: int = -1
    window_floor: int = -1  # frames <= this were evicted (or skipped past): late
    last_arrival: float = 0.0
    retired_epochs: list[int] = field(default_factory=list)
    fidelity_by_index: dict[int, float] = field(default_factory=dict)
    # Loss evidence since the last feedback.
    layers_expected: int = 0
    layers_arrived: int = 0

    def latest_decodable(self) -> FrameAssembly | None:
        for frame in reversed(self.frames.values()):
            if frame.prefix > 0:
                return frame
        return None


@dataclass
class AddResult:
    status: str  # "accepted" or the rejection reason (a counter name)
    detail: str = ""
    frame: FrameAssembly | None = None

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


class Assembler:
    """Thread-safe: layer callbacks add, query threads read and wait."""

    def __init__(
        self,
        config: AssemblyConfig,
        read_header: Callable[[bytes], Any],
        decode: Callable[[Sequence[bytes]], np.ndarray],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = config
        self._read_header = read_header
        self._decode = decode
        self._clock = clock
        self.streams: OrderedDict[str, StreamState] = OrderedDict()
        self.counters: Counter[str] = Counter()
        self.changed = threading.Condition(threading.RLock())
        self.version = 0  # bumped on every accepted layer; waiters compare it

    # -- ingest -------------------------------------------------------------------------------

    def _reject(self, status: str, detail: str) -> AddResult:
        self.counters[status] += 1
        return AddResult(status, detail)

    def add(self, layer: LayerIn, trusted: bool = False) -> AddResult:
        """Check and keep one layer. trusted=True skips authentication (layers this process coded)."""
        self.counters["received"] += 1
        cfg = self.cfg
        if not layer.stream_id:
            return self._reject("malformed", "empty stream_id")
        if cfg.allowed_streams and layer.stream_id not in cfg.allowed_streams:
            return self._reject("foreign_stream", f"stream {layer.stream_id!r} not configured")
        if len(layer.payload) > cfg.max_layer_bytes:
            return self._reject("oversize", f"{len(layer.payload)} B > {cfg.max_layer_bytes} B")
        if cfg.auth_key and not trusted:
            if not layer.auth_tag:
                return self._reject("unauthenticated", "no auth tag and a key is configured")
            if not auth.verify(cfg.auth_key, layer.identity(), layer.payload, layer.auth_tag):
                return self._reject("forged", "auth tag does not match")
        try:
            header = self._read_header(bytes(layer.payload))
        except Exception as exc:  # the codec raises CodecError; anything else is as malformed
            return self._reject("malformed", f"bad payload: {exc}")
        if header.codebook_id != cfg.codebook_id or layer.codebook_id != cfg.codebook_id:
            return self._reject("foreign_codebook", f"codebook {header.codebook_id[:12]} is not ours ({cfg.codebook_id[:12]})")
        mismatch = [
            name
            for name, msg_value, hdr_value in (
                ("frame_seq", layer.frame_seq & 0xFFFFFFFF, header.frame_seq),  # the header holds 32 bits
                ("layer_index", layer.layer_index, header.layer_index),
                ("layer_count", layer.layer_count, header.layer_count),
            )
            if int(msg_value) != int(hdr_value)
        ]
        if mismatch:
            return self._reject("inconsistent", f"message and payload header disagree on {', '.join(mismatch)}")
        if not getattr(header, "keyframe", True):
            # Temporal layers need the reference tokens the edge used; this cloud decodes keyframes.
            return self._reject("unsupported_temporal", f"frame {layer.frame_seq} is coded against frame {header.ref_frame_seq}")
        count, index = int(header.layer_count), int(header.layer_index)
        if not (0 < count <= MAX_LAYERS and 0 <= index < count):
            return self._reject("malformed", f"layer {index} of {count}")
        with self.changed:
            return self._insert(layer, header, index, count)

    def _stream_for(self, layer: LayerIn) -> tuple[StreamState | None, AddResult | None]:
        stream = self.streams.get(layer.stream_id)
        if stream is None:
            if len(self.streams) >= self.cfg.max_streams:
                return None, self._reject("too_many_streams", f"already {len(self.streams)} streams")
            stream = StreamState(layer.stream_id, layer.epoch)
            self.streams[layer.stream_id] = stream
            self.counters["streams_added"] += 1
        elif layer.epoch != stream.epoch:
            if layer.epoch in stream.retired_epochs:
                return None, self._reject("stale_epoch", f"epoch {layer.epoch} was replaced")
            # The edge restarted: its frame counter starts over, so the old frames cannot be compared.
            stream.retired_epochs = (stream.retired_epochs + [stream.epoch])[-self.cfg.retired_epochs :]
            stream.epoch = layer.epoch
            stream.frames.clear()
            stream.bytes_held = 0
            stream.newest_seq = stream.window_floor = -1
            self.counters["epoch_changes"] += 1
        return stream, None

    def _insert(self, layer: LayerIn, header: Any, index: int, count: int) -> AddResult:
        stream, rejected = self._stream_for(layer)
        if rejected:
            return rejected
        now = self._clock()
        seq = int(layer.frame_seq)
        frame = stream.frames.get(seq)
        if frame is None:
            if seq <= stream.window_floor:
                return self._reject("late", f"frame {seq} already left the window (floor {stream.window_floor})")
            oldest = next(iter(stream.frames), None)
            if oldest is not None and seq < oldest and len(stream.frames) >= self.cfg.max_frames_per_stream:
                return self._reject("late", f"frame {seq} is older than every held frame")
            frame = FrameAssembly(
                stream.stream_id, stream.epoch, seq, count, header.codebook_id, tuple(int(x) for x in header.token_shape),
                [None] * count, [float("nan")] * count, first_arrival=now,
            )
            if seq > stream.newest_seq:
                if stream.newest_seq >= 0:
                    stream.layers_expected += max(0, seq - stream.newest_seq - 1)  # whole frames missing
                stream.newest_seq = seq
            reordered = bool(stream.frames) and seq < next(reversed(stream.frames))
            stream.frames[seq] = frame
            if reordered:  # keep frames in frame_seq order so eviction drops the oldest
                stream.frames = OrderedDict(sorted(stream.frames.items()))
        elif frame.layer_count != count or frame.codebook_id != header.codebook_id:
            return self._reject("inconsistent", f"frame {seq} was {frame.layer_count} layers, now {count}")
        if frame.layers[index] is not None:
            if frame.layers[index] != bytes(layer.payload):
                return self._reject("conflict", f"frame {seq} layer {index} arrived twice with different bytes")
            return self._reject("duplicate", f"frame {seq} layer {index}")
        payload = bytes(layer.payload)
        frame.layers[index] = payload
        frame.fidelities[index] = float(header.fidelity)
        frame.bytes_total += len(payload)
        frame.last_arrival = now
        frame.last_send_stamp = layer.send_stamp
        if index > frame.max_index_seen:
            stream.layers_expected += index - frame.max_index_seen
            frame.max_index_seen = index
        stream.layers_arrived += 1
        stream.bytes_held += len(payload)
        stream.last_arrival = now
        stream.fidelity_by_index[index] = float(header.fidelity)
        self.streams.move_to_end(stream.stream_id)
        self._evict(stream)
        self.counters["accepted"] += 1
        self.version += 1
        self.changed.notify_all()
        return AddResult("accepted", frame=frame)

    def _evict(self, stream: StreamState) -> None:
        while stream.frames and (
            len(stream.frames) > self.cfg.max_frames_per_stream
            or (stream.bytes_held > self.cfg.max_bytes_per_stream and len(stream.frames) > 1)
        ):
            seq, old = stream.frames.popitem(last=False)
            stream.bytes_held -= old.bytes_total
            stream.window_floor = max(stream.window_floor, seq)
            self.counters["frames_evicted"] += 1

    def expire_streams(self, max_idle_s: float) -> list[str]:
        """Forget streams silent for longer than max_idle_s (a robot that went away)."""
        now = self._clock()
        with self.changed:
            gone = [sid for sid, s in self.streams.items() if now - s.last_arrival > max_idle_s]
            for sid in gone:
                del self.streams[sid]
                self.counters["streams_expired"] += 1
        return gone

    # -- read side ----------------------------------------------------------------------------

    def add_complete_frame(self, stream_id: str, epoch: int, frame_seq: int, layers: Sequence[bytes]) -> AddResult:
        """Insert a whole locally coded frame (full_cloud mode: the cloud ran the encoder)."""
        result = AddResult("empty")
        for i, payload in enumerate(layers):
            header = self._read_header(payload)
            result = self.add(LayerIn(stream_id, epoch, frame_seq, i, len(layers), header.codebook_id, payload), trusted=True)
            if not result.accepted:
                return result
        return result

    def take_loss_counts(self, stream_id: str) -> tuple[int, int]:
        with self.changed:
            stream = self.streams.get(stream_id)
            if stream is None:
                return 0, 0
            counts = (stream.layers_expected, stream.layers_arrived)
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
        tokens = self._decode(layers)  # outside the lock: other streams keep flowing
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
            return {
                sid: {
                    "epoch": s.epoch,
                    "frames": list(s.frames),
                    "bytes_held": s.bytes_held,
                    "newest_seq": s.newest_seq,
                    "idle_s": self._clock() - s.last_arrival,
                }
                for sid, s in self.streams.items()
            }
