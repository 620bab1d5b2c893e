"""What every uplink mode shares: the Outgoing record, feedback as plain data, held frame contexts."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from prosem_core.edge_session import EdgeSession, PullRequest
from prosem_core.link.estimator import Feedback


@dataclass
class UplinkConfig:
    buffer_frames: int = 16  # frames whose context (camera header) is kept for pulled layers
    jpeg_quality: int = 90  # full_cloud
    jpeg_max_side: int = 0  # full_cloud: 0 = keep the camera's size


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


@dataclass
class FrameFeedback:
    """A LayerFeedback's fields as plain data (the glue converts the message)."""

    stream_id: str
    epoch: int
    frame_seq: int
    received_mask: int = 0
    prefix_layers: int = 0
    bytes_received: int = 0
    receive_stamp: float = 0.0
    echo_send_stamp: float = 0.0
    hold_s: float = 0.0
    layers_expected: int = 0
    layers_arrived: int = 0
    pull_layers: int = 0
    request_keyframe: bool = False
    status: int = 0
    reason: str = ""


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

    def echo_time(self, fb: FrameFeedback) -> float:
        """The send time the feedback's RTT sample refers to (the echoed stamp by default)."""
        return fb.echo_send_stamp

    def feedback(self, fb: FrameFeedback, now: float) -> list[Outgoing]:
        """A receipt from the cloud: link measurement, then whatever it asks to be re-sent."""
        self.session.on_feedback(Feedback(fb.frame_seq, fb.received_mask, fb.bytes_received, fb.receive_stamp,
                                          self.echo_time(fb), fb.hold_s), now)
        if not self.pullable or fb.pull_layers <= fb.prefix_layers:
            return []
        wanted = self.session.pull(PullRequest(fb.frame_seq, fb.received_mask, fb.pull_layers), now)
        context = self._contexts.get(fb.frame_seq)
        out = []
        for index in wanted:
            payload = self.session.layer(fb.frame_seq, index)
            if payload is not None and context is not None:
                out.append(self.layer_out(fb.frame_seq, index, payload, "base", context))
        return self._sent(out, now)

    def layer_out(self, seq: int, index: int, payload: bytes, channel: str, context: Any) -> Outgoing:
        raise NotImplementedError(f"{self.name} sends no layers")
