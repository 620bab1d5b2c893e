"""full_cloud (baseline): the camera frame as JPEG; the cloud runs the vision half. Nothing can be
pulled (a JPEG is tens of datagrams on a reliable topic); the RTT sample is taken from the frame's
own send time, since the cloud's receipt echoes its arrival instead."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from prosem_core import images
from prosem_core.auth import FeedbackFields
from prosem_core.uplink.base import EdgeUplink, Outgoing

JPEG_SENT_KEPT = 64


class FullCloudUplink(EdgeUplink):
    name = "full_cloud"
    needs_tokens = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._sent_at: OrderedDict[int, float] = OrderedDict()

    def prepare(self, rgb: np.ndarray) -> bytes:
        return images.encode_jpeg(images.resize_max_side(rgb, self.cfg.jpeg_max_side), self.cfg.jpeg_quality)

    def warm_up(self) -> None:
        pass  # JPEG encoding has nothing to load

    def commit(self, prepared: bytes, now: float, context: Any = None) -> list[Outgoing]:
        plan = self.session.plan_frame([len(prepared)], now)
        if not plan.send:
            return []
        seq = self.session.add_frame([])
        self._sent_at[seq] = now
        while len(self._sent_at) > JPEG_SENT_KEPT:
            self._sent_at.popitem(last=False)
        return self._sent([Outgoing(seq, 0, prepared, "jpeg", context=context)], now)

    def echo_override(self, fields: FeedbackFields) -> float | None:
        return self._sent_at.get(fields.frame_seq)
