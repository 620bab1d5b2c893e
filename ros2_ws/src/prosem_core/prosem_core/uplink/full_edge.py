"""full_edge (baseline): nothing on the uplink; the edge keeps its newest frame's tokens and answers
questions itself (the cloud relays them to the edge's prosem/edge_query service)."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from prosem_core.uplink.base import EdgeUplink, Outgoing

if TYPE_CHECKING:
    from prosem_core.query_types import QueryResult


class FullEdgeUplink(EdgeUplink):
    name = "full_edge"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._latest: tuple[int, np.ndarray] | None = None
        self._lock = threading.Lock()  # the answering thread reads what the worker writes

    def commit(self, prepared: np.ndarray, now: float, context: Any = None) -> list[Outgoing]:
        seq = self.session.add_frame([])
        with self._lock:
            self._latest = (seq, prepared)
        return []

    def latest(self) -> tuple[int, np.ndarray] | None:
        with self._lock:
            return self._latest

    def warm_up(self) -> None:
        super().warm_up()
        answerer = self.pipeline.answerer
        if hasattr(answerer, "warm_up"):
            answerer.warm_up()

    def answer(self, req, answer_fn) -> QueryResult:
        """Answer a relayed question from the newest frame's tokens (this baseline keeps only those)."""
        from prosem_core.query_types import ErrorCode, QueryResult
        from prosem_core.questions import BadRequest, check_query

        try:
            req = check_query(req.question, req.stream_id, req.frame_seq, req.min_fidelity, req.timeout_s, req.max_new_tokens)
        except BadRequest as exc:
            return QueryResult.failure(ErrorCode.BAD_REQUEST, str(exc))
        latest = self.latest()
        stream = {"stream_id": self.session.cfg.stream_id}
        if latest is None:
            return QueryResult.failure(ErrorCode.NO_FRAME, f"stream {self.session.cfg.stream_id!r} has no frame yet", **stream)
        seq, tokens = latest
        if req.frame_seq >= 0 and req.frame_seq != seq:
            return QueryResult.failure(ErrorCode.NO_FRAME, f"frame {req.frame_seq} not held (the edge keeps only the latest, "
                                       f"{seq})", **stream)
        try:
            ans = answer_fn(tokens, req.question, max_new_tokens=req.max_new_tokens or None)
        except Exception as exc:
            return QueryResult.failure(ErrorCode.MODEL, f"answer failed: {type(exc).__name__}: {exc}", frame_seq=seq, **stream)
        return QueryResult(success=True, answer=str(ans.text), confidence=float(ans.confidence), frame_seq=seq,
                           fidelity=1.0, fidelity_reached=True, **stream)
