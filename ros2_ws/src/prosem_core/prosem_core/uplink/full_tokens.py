"""full_tokens (baseline): the vision half's tokens uncompressed, fp16, in a few chunks of whole
token rows (prosem_core.token_chunks). A frame goes whole or not at all: the rate controller sees its
total size; lost chunks are pulled like layers."""
from __future__ import annotations

from typing import Any

import numpy as np

from prosem_core import token_chunks
from prosem_core.uplink.base import EdgeUplink, Outgoing


class FullTokensUplink(EdgeUplink):
    name = "full_tokens"
    pullable = True

    def commit(self, prepared: np.ndarray, now: float, context: Any = None) -> list[Outgoing]:
        chunks = token_chunks.split_tokens(prepared, self.session.next_seq & 0xFFFFFFFF)
        plan = self.session.plan_frame([sum(len(c) for c in chunks)], now)
        if not plan.send:
            return []
        seq = self.session.add_frame(chunks)
        self._remember(seq, context)
        return self._sent([self.layer_out(seq, i, c, "base", context) for i, c in enumerate(chunks)], now)

    def layer_out(self, seq: int, index: int, payload: bytes, channel: str, context: Any) -> Outgoing:
        h = token_chunks.read_chunk_header(payload)
        return Outgoing(seq, index, payload, channel, h.layer_count, token_chunks.FP16_CODEC_ID, h.codebook_id,
                        tuple(h.token_shape), True, int(h.ref_frame_seq), float(h.fidelity), context)
