"""Temporal mode bookkeeping for both ends: which frame a new frame is coded against.

Protocol (what the nodes exchange, in words):
  1. The sender codes frame n against the newest frame m the receiver confirmed (a receipt saying
     "I hold layers[:k] of frame m"), or as a keyframe: at start, every `keyframe_interval` frames,
     on request, or when it has no confirmed frame.
  2. The receiver keeps its last decode of each recent frame. When it confirms frame m with k layers,
     its reference for m is its decode of exactly those k layers; it must not re-decode m with a
     different prefix afterwards (later layers of m are simply not used as a reference).
  3. The sender rebuilds the same reference by decoding the k layers it sent, so both ends hold
     bit-identical reference tokens (same codebook, same numpy code).
Frames coded against a reference the receiver no longer holds raise CodecError on decode; the
receiver then asks for a keyframe.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .autoencoder import MetaAutoEncoder
from .errors import CodecError
from .layer_format import read_header


class TemporalEncoder:
    """Sender side: keeps recent frames' layers; codes new frames against the confirmed reference."""

    def __init__(self, codec: MetaAutoEncoder, keyframe_interval: int = 30, history: int = 16):
        if keyframe_interval < 1 or history < 1:
            raise ValueError("keyframe_interval and history must be >= 1")
        self.codec, self.keyframe_interval, self.history = codec, keyframe_interval, history
        self._sent: OrderedDict[int, tuple[list[bytes], tuple[int, np.ndarray] | None]] = OrderedDict()
        self._reference: tuple[int, np.ndarray] | None = None
        self._since_keyframe = 0
        self._keyframe_requested = True

    def request_keyframe(self) -> None:
        self._keyframe_requested = True

    def encode(self, tokens: np.ndarray, frame_seq: int, keyframe: bool = False) -> list[bytes]:
        key = (keyframe or self._keyframe_requested or self._reference is None
               or self._since_keyframe + 1 >= self.keyframe_interval)
        ref = None if key else self._reference
        layers = self.codec.encode(tokens, frame_seq, reference=ref)
        self._since_keyframe = 0 if key else self._since_keyframe + 1
        self._keyframe_requested = False
        self._sent[int(frame_seq)] = (layers, ref)
        self._sent.move_to_end(int(frame_seq))
        while len(self._sent) > self.history:
            self._sent.popitem(last=False)
        return layers

    def confirm(self, frame_seq: int, layers_received: int) -> None:
        """The receiver holds layers[:layers_received] of frame_seq: make it the reference."""
        entry = self._sent.get(int(frame_seq))
        if entry is None:
            raise CodecError(f"frame {frame_seq} is not among the last {self.history} frames sent")
        layers, ref = entry
        if not 1 <= layers_received <= len(layers):
            raise CodecError(f"frame {frame_seq} has {len(layers)} layers, receipt says {layers_received}")
        if self._reference is not None and self._reference[0] >= frame_seq:
            return  # an older or repeated receipt: keep the newer reference
        self._reference = (int(frame_seq), self.codec.decode(layers[:layers_received], reference=ref))


class TemporalDecoder:
    """Receiver side: decodes keyframes and delta frames, remembering recent decodes as references."""

    def __init__(self, codec: MetaAutoEncoder, history: int = 16):
        if history < 1:
            raise ValueError("history must be >= 1")
        self.codec, self.history = codec, history
        self._decoded: OrderedDict[int, np.ndarray] = OrderedDict()
        self._frozen: set[int] = set()

    def decode(self, layers: list[bytes]) -> np.ndarray:
        h = read_header(layers[0]) if layers else None
        if h is None:
            raise CodecError("no layers")
        ref = None
        if not h.keyframe:
            tokens = self._decoded.get(h.ref_frame_seq)
            if tokens is None or h.ref_frame_seq not in self._frozen:
                raise CodecError(f"frame {h.frame_seq} needs frame {h.ref_frame_seq}, which this receiver "
                                 "did not confirm or no longer holds: request a keyframe")
            ref = (h.ref_frame_seq, tokens)
        out = self.codec.decode(layers, reference=ref)
        if h.frame_seq not in self._frozen:  # a confirmed frame's reference never changes
            self._decoded[h.frame_seq] = out
            self._decoded.move_to_end(h.frame_seq)
            while len(self._decoded) > self.history:
                old, _ = self._decoded.popitem(last=False)
                self._frozen.discard(old)
        return out

    def confirm(self, frame_seq: int) -> None:
        """Freeze the last decode of frame_seq as a reference (send the receipt with that prefix)."""
        if frame_seq not in self._decoded:
            raise CodecError(f"frame {frame_seq} was not decoded here")
        self._frozen.add(int(frame_seq))
