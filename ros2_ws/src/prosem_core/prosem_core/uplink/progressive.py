"""progressive (the product): Meta AutoEncoder layers. The base layer of every frame the rate
controller admits goes on the base channel, as many refinements as it allows on the refine channel;
the cloud pulls the rest of a frame when a question needs it (on the base channel).

With `temporal`, a frame is coded against the newest frame whose base layer the cloud confirmed
(codec.temporal.TemporalEncoder): the receipts in the cloud's feedback confirm references, and its
`request_keyframe` makes the next frame a keyframe. The coding then happens in commit() (under the
node's lock, like the feedback that changes the references; a few milliseconds), and prepare() only
runs the vision half.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from prosem_core import wire_codes
from prosem_core.auth import FeedbackFields
from prosem_core.codec import CodecError, read_header
from prosem_core.codec.temporal import TemporalEncoder
from prosem_core.edge_session import FeedbackOutcome
from prosem_core.uplink.base import EdgeUplink, Outgoing

CODEC_ID = "prosem-mae/1"
# A keyframe that was coded but not sent (the rate plan skipped the frame) for one of these reasons
# must still be the next frame: the cloud has nothing to decode deltas against.
_MUST_RESEND_KEYFRAME = ("start", "requested", "no reference")


class ProgressiveUplink(EdgeUplink):
    name = "progressive"
    pullable = True

    def __init__(self, session, pipeline, cfg) -> None:
        super().__init__(session, pipeline, cfg)
        self.temporal: TemporalEncoder | None = None
        if cfg.temporal:
            self.temporal = TemporalEncoder(pipeline.codec, keyframe_interval=cfg.keyframe_interval,
                                            cut_threshold=cfg.scene_cut_threshold, history=cfg.temporal_history)
        self.keyframe_reasons: dict[str, int] = {}  # why keyframes were sent (temporal), for counters

    def prepare(self, rgb) -> list[bytes] | np.ndarray:
        if self.temporal is not None:
            return self.tokens(rgb)  # coded in commit(), against the references the feedback confirmed
        # Only the worker thread numbers frames, so next_seq cannot move under us.
        return self.pipeline.codec.encode(self.tokens(rgb), frame_seq=self.session.next_seq & 0xFFFFFFFF)

    def commit(self, prepared: list[bytes] | np.ndarray, now: float, context: Any = None) -> list[Outgoing]:
        layers = self._code(prepared) if self.temporal is not None else prepared
        plan = self.session.plan_frame([len(x) for x in layers], now)
        if not plan.send:
            if self.temporal is not None and self.temporal.last_keyframe_reason in _MUST_RESEND_KEYFRAME:
                self.temporal.request_keyframe()
            return []
        seq = self.session.add_frame(layers)
        self._remember(seq, context)
        if self.temporal is not None and self.temporal.last_keyframe_reason:
            reason = self.temporal.last_keyframe_reason
            self.keyframe_reasons[reason] = self.keyframe_reasons.get(reason, 0) + 1
        return self._sent([self.layer_out(seq, i, layers[i], "base" if i == 0 else "refine", context)
                           for i in range(plan.layers)], now)

    def _code(self, tokens: np.ndarray) -> list[bytes]:
        return self.temporal.encode(tokens, self.session.next_seq & 0xFFFFFFFF)

    def feedback(self, fields: FeedbackFields, auth_tag: bytes, now: float) -> tuple[FeedbackOutcome, list[Outgoing]]:
        outcome, out = super().feedback(fields, auth_tag, now)
        if self.temporal is not None and outcome.accepted:
            if fields.request_keyframe:
                self.temporal.request_keyframe()
            elif fields.prefix_layers >= 1 and fields.status == wire_codes.STATUS_OK:
                try:
                    self.temporal.confirm(fields.frame_seq & 0xFFFFFFFF, fields.prefix_layers)
                except CodecError:  # a receipt for more layers than the frame has: not a real receipt
                    pass
        return outcome, out

    def warm_up(self) -> None:
        # The vision half and one coding, without touching the temporal references.
        self.pipeline.codec.encode(self.tokens(np.zeros((224, 224, 3), np.uint8)), frame_seq=0)

    def layer_out(self, seq: int, index: int, payload: bytes, channel: str, context: Any) -> Outgoing:
        h = read_header(payload)
        return Outgoing(seq, index, payload, channel, h.layer_count, CODEC_ID, h.codebook_id, tuple(h.token_shape),
                        bool(h.keyframe), int(h.ref_frame_seq), float(h.fidelity), context)
