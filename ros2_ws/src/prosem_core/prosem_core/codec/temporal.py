"""Temporal coding for both ends: which frame a new frame is coded against, and when not to.

Protocol (what the nodes exchange):
  1. Reference. The reference of frame m is the decode of its first R layers, R = `reference_layers`
     (default 1: the base layer alone). Both ends compute it with the same codebook and the same
     numpy code from the same bytes, so they hold the same reference tokens (bit-identical on one
     platform; BLAS kernels of two CPU architectures may differ in the last float32 bit, a drift
     that a keyframe every `keyframe_interval` frames bounds far below quantization). Every delta layer
     names its reference in its header: ref_frame_seq and ref_layers (= R).
  2. Receipts. The receiver reports which frames it holds the first layers of (the nodes' feedback);
     on a receipt showing frame m's first R layers, the sender calls `confirm(m)` (or
     `confirm(m, layers=k)` with the receipt's prefix length k; frames with k < R never become
     references). A frame whose base layer was lost is simply never confirmed.
  3. Coding. The sender codes frame n against the newest confirmed frame m within `history` frames,
     each layer with a step no finer than m's layer had (so a still scene costs next to nothing
     instead of refining the reference; quality stays what the keyframe had). (Measured and
     dropped: coding a delta's base layer at the step of the layer that refines it; it made the
     open-question operating point, one layer, 38 % dearer on the panning sequence.)
     It sends a keyframe instead: at start, after `request_keyframe()` (the receiver could not
     decode), when no confirmed frame is recent enough, every `keyframe_interval` frames, and on a
     scene cut: when the change against the reference carries more than `cut_threshold` of the
     frame's own model energy (measured in bench/codec.py: frames of one panning scene stay far
     below it, a cut to another photo lands far above it; coding a change that large costs more
     than a keyframe).
  4. Decoding. The receiver's `TemporalDecoder.decode(prefix)` decodes keyframes and delta frames
     whose reference frame it holds (layers kept for the last `history` frames); otherwise it raises
     CodecError, and the receiver asks for a keyframe.
Fidelity stays relative to the frame itself (not to the change), so it means the same in both modes.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .autoencoder import MetaAutoEncoder
from .errors import CodecError
from .layer_format import MAX_REF_DISTANCE, read_header

# The cut threshold the nodes should use: mean-token change energy / the frame's own mean-token
# energy above which the sender codes a keyframe. Measured (`prosem bench codec`, temporal.cut_measure,
# 160 frames of the panning camera sequence against the previous frame's base layer): within a scene
# at most 0.14 (median 0.06), right after the 7 cuts 1.16..1.80; 0.4 sits a factor ~3 from both.
DEFAULT_CUT_THRESHOLD = 0.4
DEFAULT_KEYFRAME_INTERVAL = 50  # 10 s at 5 fps
DEFAULT_HISTORY = 32


@dataclass
class _Sent:
    layers: list[bytes]
    ref_tokens: np.ndarray | None  # what frame was coded against (None: keyframe)
    exponents: list[int]  # step exponent of each layer: later changes are coded no finer
    confirmed: int = 0  # longest prefix the receiver confirmed


def _seq_after(a: int, b: int) -> int:
    """Frames from b to a (uint32 arithmetic, so sequence numbers may wrap)."""
    return (int(a) - int(b)) & 0xFFFFFFFF


class TemporalEncoder:
    """Sender side. Call `encode(tokens, seq)` per frame (seq increasing), `confirm(seq)` when a receipt
    shows the receiver holds frame seq's base layer, `request_keyframe()` when the receiver asks."""

    def __init__(self, codec: MetaAutoEncoder, keyframe_interval: int = DEFAULT_KEYFRAME_INTERVAL,
                 cut_threshold: float | None = DEFAULT_CUT_THRESHOLD, history: int = DEFAULT_HISTORY,
                 reference_layers: int = 1):
        if keyframe_interval < 1 or not 1 <= history <= MAX_REF_DISTANCE:
            raise ValueError(f"keyframe_interval must be >= 1 and history 1..{MAX_REF_DISTANCE}")
        if not 1 <= reference_layers <= codec.layer_count:
            raise ValueError(f"reference_layers must be 1..{codec.layer_count}")
        if cut_threshold is not None and not cut_threshold > 0:
            raise ValueError("cut_threshold must be positive (or None: no cut detection)")
        self.codec, self.keyframe_interval, self.history = codec, keyframe_interval, history
        self.cut_threshold, self.reference_layers = cut_threshold, reference_layers
        self._sent: OrderedDict[int, _Sent] = OrderedDict()
        self._reference: tuple[int, np.ndarray] | None = None  # newest confirmed (seq, reference tokens)
        self._since_keyframe = 0
        self._keyframe_requested = True
        self.last_change = 1.0  # change measure of the last frame (1.0 on keyframes); for diagnostics
        self.last_keyframe_reason = "start"
        self.frames_encoded = 0

    def request_keyframe(self) -> None:
        """The receiver lost its references (or asked): the next frame is a keyframe and no earlier
        confirmation is trusted."""
        self._keyframe_requested = True
        self._reference = None
        for entry in self._sent.values():
            entry.confirmed = 0

    def encode(self, tokens: np.ndarray, frame_seq: int, keyframe: bool = False) -> list[bytes]:
        seq = int(frame_seq)
        ref = self._reference
        if ref is not None and not 1 <= _seq_after(seq, ref[0]) <= self.history:
            ref = None  # too old for the receiver's history (or not before this frame)
        reason = ("start" if self.frames_encoded == 0 else "requested" if keyframe or self._keyframe_requested
                  else "no reference" if ref is None
                  else "interval" if self._since_keyframe + 1 >= self.keyframe_interval else "")
        ref_exponents = None
        if not reason:
            ref_exponents = self._sent[ref[0]].exponents if ref[0] in self._sent else None
        layers, change = self.codec.encode_against(
            tokens, seq, None if reason else ref, self.reference_layers,
            keyframe_above=self.cut_threshold, min_exponents=ref_exponents)
        key = read_header(layers[0]).keyframe
        if key and not reason:
            reason = "scene cut"
        self.last_change, self.last_keyframe_reason = change, reason
        self.frames_encoded += 1
        self._since_keyframe = 0 if key else self._since_keyframe + 1
        self._keyframe_requested = False
        self._sent[seq] = _Sent(layers, None if key else ref[1], self.codec.layer_exponents(layers))
        self._sent.move_to_end(seq)
        while len(self._sent) > self.history:
            self._sent.popitem(last=False)
        return layers

    def confirm(self, frame_seq: int, layers: int = 1) -> bool:
        """The receiver holds the first `layers` layers of frame_seq. Returns True when this made a
        new reference (the frame is newer than the current one and has >= reference_layers layers).
        Receipts of frames this encoder no longer remembers are ignored (False)."""
        seq = int(frame_seq)
        entry = self._sent.get(seq)
        if entry is None:
            return False
        if not 1 <= layers <= len(entry.layers):
            raise CodecError(f"frame {seq} has {len(entry.layers)} layers, the receipt says {layers}")
        entry.confirmed = max(entry.confirmed, int(layers))
        if entry.confirmed < self.reference_layers:
            return False
        if self._reference is not None and not 0 < _seq_after(seq, self._reference[0]) < 0x80000000:
            return False  # an older (or the same) frame than the current reference
        h = read_header(entry.layers[0])
        ref = None if h.keyframe else (h.ref_frame_seq, entry.ref_tokens)
        self._reference = (seq, self.codec.decode(entry.layers[:self.reference_layers], reference=ref))
        return True

    @property
    def reference_seq(self) -> int | None:
        return None if self._reference is None else self._reference[0]


@dataclass
class _Held:
    layers: list[bytes]  # the longest prefix received so far
    ref_tokens: np.ndarray | None


class TemporalDecoder:
    """Receiver side: `decode(prefix)` for any prefix of any frame (keyframe or delta). Keeps the
    layers of the last `history` frames to rebuild references. Raises CodecError when a delta
    frame's reference is not held: then ask the sender for a keyframe."""

    def __init__(self, codec: MetaAutoEncoder, history: int = DEFAULT_HISTORY):
        if history < 1:
            raise ValueError("history must be >= 1")
        self.codec, self.history = codec, history
        self._held: OrderedDict[int, _Held] = OrderedDict()
        self._references: dict[tuple[int, int], np.ndarray] = {}

    def reference_tokens(self, frame_seq: int, layers: int) -> np.ndarray:
        """The decode of the first `layers` layers of a held frame (what a delta frame names)."""
        key = (int(frame_seq), int(layers))
        if key in self._references:
            return self._references[key]
        held = self._held.get(int(frame_seq))
        if held is None or len(held.layers) < layers:
            raise CodecError(f"reference frame {frame_seq} ({layers} layers) is not held here: request a keyframe")
        h = read_header(held.layers[0])
        ref = None if h.keyframe else (h.ref_frame_seq, held.ref_tokens)
        tokens = self.codec.decode(held.layers[:layers], reference=ref)
        self._references[key] = tokens
        return tokens

    def decode(self, layers: list[bytes]) -> np.ndarray:
        if isinstance(layers, (bytes, bytearray)) or not layers:
            raise CodecError("need a non-empty list of layers (a prefix of one frame)")
        h = read_header(layers[0])
        ref = None
        if not h.keyframe:
            held_ref = self._held.get(h.frame_seq)
            if held_ref is not None and held_ref.ref_tokens is not None and held_ref.layers[0] == bytes(layers[0]):
                ref = (h.ref_frame_seq, held_ref.ref_tokens)  # the same frame again (a longer prefix)
            else:
                ref = (h.ref_frame_seq, self.reference_tokens(h.ref_frame_seq, h.ref_layers))
        out = self.codec.decode(layers, reference=ref)
        self._remember(h.frame_seq, [bytes(x) for x in layers], None if ref is None else ref[1])
        return out

    def hold(self, layers: list[bytes]) -> None:
        """Keep a frame (any prefix) as a possible reference without decoding it: a keyframe costs
        nothing, a delta frame the decode of its own reference (cached; frames share references).
        Raises CodecError, like decode(), when a delta frame's reference is not held."""
        if isinstance(layers, (bytes, bytearray)) or not layers:
            raise CodecError("need a non-empty list of layers (a prefix of one frame)")
        h = read_header(layers[0])
        ref_tokens = None if h.keyframe else self.reference_tokens(h.ref_frame_seq, h.ref_layers)
        self._remember(h.frame_seq, [bytes(x) for x in layers], ref_tokens)

    def _remember(self, seq: int, layers: list[bytes], ref_tokens: np.ndarray | None) -> None:
        held = self._held.get(seq)
        if held is not None and held.layers[0] == layers[0]:
            if len(layers) > len(held.layers):
                held.layers = layers
        else:  # a new frame (or a resent one with other content: forget what was built from it)
            self._held[seq] = _Held(layers, ref_tokens)
            for key in [k for k in self._references if k[0] == seq]:
                del self._references[key]
        self._held.move_to_end(seq)
        while len(self._held) > self.history:
            old, _ = self._held.popitem(last=False)
            for key in [k for k in self._references if k[0] == old]:
                del self._references[key]

    def held_prefix(self, frame_seq: int) -> int:
        """Layers held of frame_seq (0 if none): what a receipt reports."""
        held = self._held.get(int(frame_seq))
        return 0 if held is None else len(held.layers)
