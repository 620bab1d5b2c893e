"""One question about a robot's frame, from request to result: the cloud's query state machine.

    resolve the stream -> pick the frame -> while the frame's fidelity < min_fidelity and time is left:
        pull the missing layers (repeated every pull_retry_s) and wait for the assembler to change
    -> decode the prefix held -> answer (streaming partial text to the caller when it asks for it)

Plain Python on an injectable clock and wait: the node runs it on a query worker thread, never on
the executor, and a test drives it with a fake clock. Errors come back as QueryResult with an
ErrorCode, never as exceptions (a bad request must not reach the executor).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prosem_core.assembly import Assembler, FrameAssembly
from prosem_core.query_types import ErrorCode, QueryRequest, QueryResult
from prosem_core.questions import MAX_QUESTION_CHARS, BadRequest, check_query

AnswerFn = Callable[..., Any]  # (tokens, question, *, max_new_tokens, on_partial, should_stop) -> Answer
PullFn = Callable[[FrameAssembly, int, str], None]  # (frame, layers wanted, reason) -> publishes a pull
Progress = Callable[[QueryResult, bool], None]  # (result so far, partial) -> action feedback


@dataclass
class QuerySessionConfig:
    pull_retry_s: float = 0.25  # repeat a pull this often while a query waits
    max_timeout_s: float = 30.0  # cap on a request's timeout_s
    stream_stale_s: float = 3.0  # "the latest frame" of a stream silent this long is refused
    default_stream: str = ""  # the stream an empty stream_id means when several exist
    namespace_defaults: dict[str, str] = field(default_factory=dict)  # namespace -> its robot's stream
    max_question_chars: int = MAX_QUESTION_CHARS
    whole_frames_only: bool = False  # full_tokens: only a complete frame answers
    pulls: bool = True  # False: nothing to pull from (full_cloud: the cloud coded the frame itself)


class QuerySession:
    def __init__(self, assembler: Assembler, answer: AnswerFn, pull: PullFn | None, cfg: QuerySessionConfig,
                 clock: Callable[[], float] = time.monotonic, wait: Callable[[int, float], int] | None = None) -> None:
        self.assembler = assembler
        self.answer_fn = answer
        self.pull = pull
        self.cfg = cfg
        self.clock = clock  # deadlines (the assembler keeps its own clock for arrivals and staleness)
        self.wait = wait or assembler.wait_for_change

    # -- the state machine --------------------------------------------------------------------

    def run(self, req: QueryRequest, progress: Progress | None = None,
            cancelled: Callable[[], bool] = lambda: False) -> QueryResult:
        t0 = self.clock()
        out = self._run(req, t0, progress, cancelled)
        out.latency_s = self.clock() - t0
        return out

    def _run(self, raw: QueryRequest, t0: float, progress: Progress | None, cancelled: Callable[[], bool]) -> QueryResult:
        try:
            req = self.check_request(raw)
        except BadRequest as exc:
            return QueryResult.failure(ErrorCode.BAD_REQUEST, str(exc))
        choice = self.assembler.resolve_stream(req.stream_id, req.namespace, self.cfg.default_stream, self.cfg.namespace_defaults)
        if choice.stream_id is None:
            return QueryResult.failure(ErrorCode(choice.error_code), choice.error, stream_id=req.stream_id)
        stream_id = choice.stream_id
        pick = self.assembler.pick_frame(stream_id, req.frame_seq, self.cfg.stream_stale_s)
        # A stream that has sent layers but no base layer yet (its first ones were lost, or a question
        # right after start): the latest frame is worth waiting for, up to timeout_s.
        while pick.frame is None and req.frame_seq < 0 and pick.error_code == ErrorCode.NO_FRAME and not cancelled():
            now = self.clock()
            if now >= t0 + req.timeout_s:
                break
            with self.assembler.changed:
                version = self.assembler.version
            self.wait(version, min(t0 + req.timeout_s - now, self.cfg.pull_retry_s))
            pick = self.assembler.pick_frame(stream_id, req.frame_seq, self.cfg.stream_stale_s)
        if pick.frame is None:
            return QueryResult.failure(ErrorCode(pick.error_code), pick.error, stream_id=stream_id,
                                       frame_seq=req.frame_seq if req.frame_seq >= 0 else -1)
        frame = pick.frame
        deadline = t0 + req.timeout_s  # capped by check_request
        last_pull, answered_k, partial = -math.inf, 0, None
        while True:
            with self.assembler.changed:
                version, prefix, fidelity, complete = self.assembler.version, frame.prefix, frame.fidelity, frame.complete
            if progress is not None and prefix > answered_k and (complete or not self.cfg.whole_frames_only):
                partial = self.answer(frame, req, stream_id, progress, cancelled)
                answered_k = prefix
                if partial.success:
                    progress(partial, False)
            if cancelled():
                return QueryResult.failure(ErrorCode.CANCELED, "canceled", stream_id=stream_id, frame_seq=frame.frame_seq)
            if (prefix > 0 and fidelity >= req.min_fidelity) or complete:
                break
            now = self.clock()
            if now >= deadline:
                break
            if self.cfg.pulls and self.pull is not None and now - last_pull >= self.cfg.pull_retry_s:
                want = self.assembler.layers_needed(frame, req.min_fidelity) if prefix else 1
                self.pull(frame, want, f"query min_fidelity {req.min_fidelity:.3f}")
                last_pull = now
            self.wait(version, min(deadline - now, self.cfg.pull_retry_s))
        if frame.prefix == 0 or (self.cfg.whole_frames_only and not frame.complete):
            return QueryResult.failure(ErrorCode.TIMEOUT, f"no decodable layers of frame {frame.frame_seq} arrived within "
                                       f"{req.timeout_s:g} s", stream_id=stream_id, frame_seq=frame.frame_seq)
        if partial is not None and partial.success and answered_k == frame.prefix:
            result = partial  # the last refinement already answered this prefix
        else:
            result = self.answer(frame, req, stream_id, progress, cancelled)
        if result.success:
            result.fidelity_reached = bool(result.fidelity >= req.min_fidelity)
        return result

    # -- steps --------------------------------------------------------------------------------

    def check_request(self, req: QueryRequest) -> QueryRequest:
        """The request with every field checked (questions.check_query); BadRequest says which."""
        return check_query(req.question, req.stream_id, req.frame_seq, req.min_fidelity, req.timeout_s, req.max_new_tokens,
                           max_question_chars=self.cfg.max_question_chars, max_timeout_s=self.cfg.max_timeout_s,
                           namespace=req.namespace)

    def answer(self, frame: FrameAssembly, req: QueryRequest, stream_id: str, progress: Progress | None,
               cancelled: Callable[[], bool]) -> QueryResult:
        """Decode the prefix held and answer; partial text goes to `progress` while it is generated."""
        where = {"stream_id": stream_id, "frame_seq": frame.frame_seq}
        try:
            tokens, k = self.assembler.tokens(frame)
        except Exception as exc:  # corrupt layers that passed the header checks, a missing reference
            return QueryResult.failure(ErrorCode.NO_FRAME, f"cannot decode frame {frame.frame_seq}: {exc}", **where)
        with self.assembler.changed:
            fidelity, nbytes = float(frame.fidelities[k - 1]), frame.prefix_bytes(k)
        held = {"layers_used": k, "bytes_used": nbytes, "fidelity": fidelity, **where}

        def on_text(text: str) -> None:
            if progress is not None:
                progress(QueryResult(success=True, answer=text, **held), True)

        try:
            ans = self.answer_fn(tokens, req.question, max_new_tokens=req.max_new_tokens or None,
                                 on_partial=on_text if progress is not None else None, should_stop=cancelled)
        except Exception as exc:  # the model failed on this input: say so, keep serving
            return QueryResult.failure(ErrorCode.MODEL, f"cannot answer from frame {frame.frame_seq}: "
                                       f"{type(exc).__name__}: {exc}", **held)
        return QueryResult(success=True, answer=str(ans.text), confidence=float(ans.confidence), **held)


def locked_answerer(answerer: Any, lock: Any) -> AnswerFn:
    """An AnswerFn calling `answerer.answer` under `lock` (models are not assumed thread-safe)."""
    import inspect

    takes = set(inspect.signature(answerer.answer).parameters)

    def answer(tokens, question, **kwargs):
        with lock:
            return answerer.answer(tokens, question, **{k: v for k, v in kwargs.items() if k in takes})

    return answer
