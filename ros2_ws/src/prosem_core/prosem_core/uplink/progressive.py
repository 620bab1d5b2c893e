"""progressive (the product): Meta AutoEncoder layers. The base layer of every frame the rate
controller admits goes on the base channel, as many refinements as it allows on the refine channel;
the cloud pulls the rest of a frame when a question needs it (on the base channel)."""
from __future__ import annotations

from typing import Any

from prosem_core.codec import read_header
from prosem_core.uplink.base import EdgeUplink, Outgoing

CODEC_ID = "prosem-mae/1"


class ProgressiveUplink(EdgeUplink):
    name = "progressive"
    pullable = True

    def prepare(self, rgb) -> list[bytes]:
        # Only the worker thread numbers frames, so next_seq cannot move under us.
        return self.pipeline.codec.encode(self.tokens(rgb), frame_seq=self.session.next_seq & 0xFFFFFFFF)

    def commit(self, prepared: list[bytes], now: float, context: Any = None) -> list[Outgoing]:
        plan = self.session.plan_frame([len(x) for x in prepared], now)
        if not plan.send:
            return []
        seq = self.session.add_frame(prepared)
        self._remember(seq, context)
        return self._sent([self.layer_out(seq, i, prepared[i], "base" if i == 0 else "refine", context)
                           for i in range(plan.layers)], now)

    def layer_out(self, seq: int, index: int, payload: bytes, channel: str, context: Any) -> Outgoing:
        h = read_header(payload)
        return Outgoing(seq, index, payload, channel, h.layer_count, CODEC_ID, h.codebook_id, tuple(h.token_shape),
                        bool(h.keyframe), int(h.ref_frame_seq), float(h.fidelity), context)
