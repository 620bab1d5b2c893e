"""What every uplink mode shares: the Outgoing record, feedback handling, held frame contexts."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from prosem_core.auth import FeedbackFields
from prosem_core.edge_session import EdgeSession, FeedbackOutcome


@dataclass
class UplinkConfig:
    buffer_frames: int = 16  # frames whose context (camera header) is kept for pulled layers
    jpeg_quality: int = 90  # full_cloud
    jpeg_max_side: int = 0  # full_cloud: 0 = keep the camera's size
    # progressive: code frames against a frame the cloud confirmed (codec.temporal); keyframes at start,
    # on the cloud's request, on a scene cut, without a recent confirmed frame and every keyframe_interval.
    temporal: bool = False
    keyframe_interval: int = 50
    scene_cut_threshold: float = 0.4
    temporal_history: int = 8  # frames back a reference may be (the cloud holds more than this)


@dataclass
class Outgoing:
    """One message to publish: a layer (SemanticLayer) or a JPEG frame (CompressedImage)."""

    frame_seq: int
    index: int
    payload: bytes
    channel: str  # "base" (prosem/layers: base and pulled layers), "refine" (prosem/layers/refine), "jpeg"
    layer_count: int = 1
    codec_id: str = ""
    codebook_id: str = ""
    token_shape: tuple[int, ...] = ()
    keyframe: bool = True
    ref_frame_seq: int = 0
    fidelity: float = 1.0
    context: Any = None  # what the node passed to commit() for this frame (its camera header)


class EdgeUplink:
    """Base of the uplink modes. Not thread-safe: prepare() runs on the edge's worker thread only;
    commit() and feedback() run under the node's lock."""

    name = "abstract"
    needs_tokens = True  # False: the vision half does not run on the edge (full_cloud)
    pullable = False  # layers can be re-sent on the cloud's request

    def __init__(self, session: EdgeSession, pipeline: Any, cfg: UplinkConfig) -> None:
        self.session = session
        self.pipeline = pipeline
        self.cfg = cfg
        self._contexts: OrderedDict[int, Any] = OrderedDict()

    # -- frames -------------------------------------------------------------------------------

    def tokens(self, rgb: np.ndarray) -> np.ndarray:
        return self.pipeline.encoder.encode(rgb)

    def prepare(self, rgb: np.ndarray) -> Any:
        """The heavy part of a frame (no lock): by default the vision half's tokens."""
        return self.tokens(rgb)

    def commit(self, prepared: Any, now: float, context: Any = None) -> list[Outgoing]:
        raise NotImplementedError

    def warm_up(self) -> None:
        """Run the heavy path once so the first camera frame is not slow."""
        self.prepare(np.zeros((224, 224, 3), np.uint8))

    def _remember(self, seq: int, context: Any) -> None:
        self._contexts[seq] = context
        while len(self._contexts) > self.cfg.buffer_frames:
            self._contexts.popitem(last=False)

    def _sent(self, out: list[Outgoing], now: float) -> list[Outgoing]:
        for o in out:
            self.session.mark_sent(o.frame_seq, o.index, len(o.payload), now)
        return out

    # -- feedback -----------------------------------------------------------------------------

    def echo_override(self, fields: FeedbackFields) -> float | None:
        """The send time the feedback's RTT sample refers to, when not the echoed stamp."""
        return None

    def feedback(self, fields: FeedbackFields, auth_tag: bytes, now: float) -> tuple[FeedbackOutcome, list[Outgoing]]:
        """A LayerFeedback from the cloud: checked and measured by the session (edge_session.handle_feedback:
        ranges, stream, epoch, tag), then whatever it asks to be re-sent, ready to publish."""
        outcome = self.session.handle_feedback(fields, auth_tag, now, echo_override=self.echo_override(fields))
        if not outcome.accepted or not self.pullable or not outcome.pulls:
            return outcome, []
        context = self._contexts.get(outcome.frame_seq)
        out = []
        for index in outcome.pulls:
            payload = self.session.layer(outcome.frame_seq, index)
            if payload is not None and context is not None:
                out.append(self.layer_out(outcome.frame_seq, index, payload, "base", context))
        return outcome, self._sent(out, now)

    def layer_out(self, seq: int, index: int, payload: bytes, channel: str, context: Any) -> Outgoing:
        raise NotImplementedError(f"{self.name} sends no layers")
