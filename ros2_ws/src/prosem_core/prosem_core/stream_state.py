"""What the cloud holds of one stream: its frames under assembly, bounded, and the bookkeeping that
the Assembler's checks read (pace, epochs, arrival times). Plain data plus the frame-store operations
(place a layer, evict); the policy (which layer goes where) is the Assembler's.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prosem_core import auth
from prosem_core.epochs import EpochEvidence
from prosem_core.frame_pace import FramePace, PaceConfig


@dataclass
class LayerIn:
    """A SemanticLayer's fields, ROS-free (the node converts the message).

    send_stamp_ns is the message's send_stamp as whole nanoseconds (sec * 1e9 + nanosec): exact, as
    the authentication tag covers it.
    """

    stream_id: str
    epoch: int
    frame_seq: int
    layer_index: int
    layer_count: int
    codebook_id: str
    payload: bytes
    token_shape: tuple[int, ...] = ()
    fidelity: float = float("nan")
    send_stamp_ns: int = 0  # edge clock, echoed in feedback; covered by the auth tag
    auth_tag: bytes = b""
    codec_id: str = ""

    @property
    def send_stamp(self) -> float:
        """send_stamp in seconds (for the feedback echo)."""
        return self.send_stamp_ns * 1e-9

    def identity(self) -> auth.LayerIdentity:
        return auth.LayerIdentity(self.stream_id, self.epoch, self.frame_seq, self.layer_index, self.layer_count,
                                  self.codebook_id, self.send_stamp_ns)


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
    base_offered: bool = False  # temporal: its base layer went to the reference chain (temporal_refs)

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
class Placed:
    """Where a layer went in a StreamState: status "accepted", "held_ahead" or a rejection."""

    status: str
    detail: str = ""
    frame: FrameAssembly | None = None
    new_frame: bool = False  # the layer started a frame not seen before


@dataclass
class Candidate:
    """A non-current epoch of a stream: its evidence and its frames (held, not answered from)."""

    evidence: EpochEvidence
    state: StreamState


@dataclass
class StreamState:
    stream_id: str
    epoch: int
    pace: FramePace = field(default_factory=lambda: FramePace(PaceConfig()))
    frames: OrderedDict[int, FrameAssembly] = field(default_factory=OrderedDict)
    bytes_held: int = 0
    newest_seq: int = -1
    window_floor: int = -1  # frames <= this were evicted (or skipped past): late
    last_arrival: float = 0.0  # newest layer of the current epoch (accepted or repeated)
    created_at: float = 0.0
    namespace: str = ""  # where its layers arrive (the node's namespace of the subscription)
    allowed: bool = False  # listed in allowed_streams: never provisional, never evicted for another
    frames_total: int = 0  # new frames ever accepted (all epochs): establishment and duplicate evidence
    newest_stamp_ns: int = 0  # newest authenticated send stamp of the current epoch (keyed)
    retired_epochs: list[int] = field(default_factory=list)
    fidelity_by_index: dict[int, float] = field(default_factory=dict)
    ahead: OrderedDict[int, FrameAssembly] = field(default_factory=OrderedDict)  # far-ahead frames, held apart
    ahead_bytes: int = 0
    candidates: OrderedDict[int, Candidate] = field(default_factory=OrderedDict)
    duplicate_until: float = -math.inf
    duplicate_epoch: int = -1
    # Loss evidence since the last feedback.
    layers_expected: int = 0
    layers_arrived: int = 0

    def latest_decodable(self, window_s: float = 0.5) -> FrameAssembly | None:
        """The frame a "latest" query answers from: the highest frame_seq among the decodable frames
        that arrived within `window_s` of the most recent decodable arrival.

        Arrival time leads, not the number alone: a frame numbered ahead of its stream stops being
        "latest" once the stream's own frames have arrived for `window_s` after it.
        """
        decodable = [f for f in self.frames.values() if f.prefix > 0]
        if not decodable:
            return None
        newest = max(f.first_arrival for f in decodable)
        return max((f for f in decodable if f.first_arrival >= newest - window_s), key=lambda f: f.frame_seq)

    def place(self, seq: int, index: int, count: int, header: Any, payload: bytes, send_stamp: float, now: float,
              max_frames: int, ahead_limit: int | None = None) -> Placed:
        """Store one checked layer. `ahead_limit`: frame numbers past newest_seq kept on the main line
        (None = no pace check); a new frame further ahead goes to `ahead` instead."""
        frame = self.frames.get(seq)
        held_ahead = False
        new_frame = False
        if frame is None and seq in self.ahead:
            frame, held_ahead = self.ahead[seq], True
        if frame is None:
            if seq <= self.window_floor:
                return Placed("late", f"frame {seq} already left the window (floor {self.window_floor})")
            oldest = next(iter(self.frames), None)
            if oldest is not None and seq < oldest and len(self.frames) >= max_frames:
                return Placed("late", f"frame {seq} is older than every held frame")
            frame = FrameAssembly(
                self.stream_id, self.epoch, seq, count, header.codebook_id, tuple(int(x) for x in header.token_shape),
                [None] * count, [float("nan")] * count, first_arrival=now,
            )
            new_frame = True
            if ahead_limit is not None and self.newest_seq >= 0 and seq - self.newest_seq > ahead_limit:
                self.ahead[seq] = frame
                held_ahead = True
            else:
                self._add_frame(frame, now)
        elif frame.layer_count != count or frame.codebook_id != header.codebook_id:
            return Placed("inconsistent", f"frame {seq} was {frame.layer_count} layers, now {count}")
        if frame.layers[index] is not None:
            if frame.layers[index] != payload:
                return Placed("conflict", f"frame {seq} layer {index} arrived twice with different bytes")
            return Placed("duplicate", f"frame {seq} layer {index}")
        frame.layers[index] = payload
        frame.fidelities[index] = float(header.fidelity)
        frame.bytes_total += len(payload)
        frame.last_arrival = now
        frame.last_send_stamp = send_stamp
        if held_ahead:
            self.ahead_bytes += len(payload)
            return Placed("held_ahead", f"frame {seq} is {seq - self.newest_seq} frames ahead of the stream "
                                        f"(at most {ahead_limit} plausible now): held apart", frame, new_frame)
        if index > frame.max_index_seen:
            self.layers_expected += index - frame.max_index_seen
            frame.max_index_seen = index
        self.layers_arrived += 1
        self.bytes_held += len(payload)
        self.fidelity_by_index[index] = float(header.fidelity)
        return Placed("accepted", frame=frame, new_frame=new_frame)

    def _add_frame(self, frame: FrameAssembly, now: float, count_gap: bool = True) -> None:
        seq = frame.frame_seq
        if seq > self.newest_seq:
            if self.newest_seq >= 0 and count_gap:
                self.layers_expected += max(0, seq - self.newest_seq - 1)  # whole frames missing
            self.newest_seq = seq
            self.pace.observe(seq, now)
        reordered = bool(self.frames) and seq < next(reversed(self.frames))
        self.frames[seq] = frame
        if reordered:  # keep frames in frame_seq order so eviction drops the oldest
            self.frames = OrderedDict(sorted(self.frames.items()))
        self.frames_total += 1

    def promote_ahead(self, now: float, confirm_frames: int, slack: int) -> bool:
        """Make the far-ahead frames the stream's line when they continue each other and the main
        line is silent since the first of them arrived (an edge that really jumped, e.g. after a long
        loss burst, is not also sending the old numbers). True when promoted."""
        if not self.ahead:
            return False
        top = max(self.ahead)
        branch = [f for s, f in self.ahead.items() if s >= top - slack]
        if len(branch) < confirm_frames:
            return False
        started = min(f.first_arrival for f in branch)
        if not math.isnan(self.pace.last_arrival) and self.pace.last_arrival >= started:
            return False
        self.pace = FramePace(self.pace.cfg)  # the old numbers say nothing about the new line's pace
        for frame in sorted(branch, key=lambda f: f.frame_seq):
            self._add_frame(frame, frame.first_arrival, count_gap=False)  # a jump, not evidence of loss
            self.bytes_held += frame.bytes_total
            self.layers_arrived += sum(1 for layer in frame.layers if layer is not None)
        self.ahead.clear()
        self.ahead_bytes = 0
        return True

    def drop_ahead(self, now: float, max_frames: int, max_bytes: int, expire_s: float) -> int:
        """Bound the far-ahead frames (count, bytes, age); returns how many were dropped."""
        dropped = 0
        for seq in [s for s, f in self.ahead.items() if now - f.first_arrival > expire_s]:
            self.ahead_bytes -= self.ahead.pop(seq).bytes_total
            dropped += 1
        while self.ahead and (len(self.ahead) > max_frames or self.ahead_bytes > max_bytes):
            _, frame = self.ahead.popitem(last=False)
            self.ahead_bytes -= frame.bytes_total
            dropped += 1
        return dropped

    def evict(self, max_frames: int, max_bytes: int) -> int:
        """Drop the oldest frames beyond the bounds; returns how many."""
        evicted = 0
        while self.frames and (len(self.frames) > max_frames or (self.bytes_held > max_bytes and len(self.frames) > 1)):
            seq, old = self.frames.popitem(last=False)
            self.bytes_held -= old.bytes_total
            self.window_floor = max(self.window_floor, seq)
            evicted += 1
        return evicted
