"""The cloud's query state machine (prosem_core.query_session) on a fake clock, without ROS:
stream and frame resolution, pulls repeated while waiting, timeouts, partial progress, cancel."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from layer_helpers import frame_layers, small_codec

from prosem_core.assembly import Assembler, AssemblyConfig, LayerIn
from prosem_core.codec import read_header
from prosem_core.query_session import QuerySession, QuerySessionConfig
from prosem_core.query_types import ErrorCode, QueryRequest


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Rig:
    """An assembler, a session and a fake edge that answers pulls after `delay_s` of fake time."""

    def __init__(self, deliver_pulls: bool = True, delay_s: float = 0.1, **cfg) -> None:
        self.clock = FakeClock()
        codec = small_codec()
        self.asm = Assembler(AssemblyConfig(codebook_id=codec.codebook_id), read_header=read_header, decode=codec.decode,
                             clock=self.clock)
        self.pulls: list[tuple[float, int, int]] = []  # (time, frame, wanted)
        self.due: list[tuple[float, int, int]] = []  # layers the fake edge will deliver: (time, frame, index)
        self.deliver_pulls, self.delay_s = deliver_pulls, delay_s
        self.answers: list[tuple[int, str]] = []
        self.session = QuerySession(self.asm, self.answer, self.pull, QuerySessionConfig(**cfg), clock=self.clock,
                                    wait=self.wait)

    def add(self, seq: int, index: int, stream: str = "robot1") -> None:
        layers = frame_layers(seq)
        h = read_header(layers[index])
        self.asm.add(LayerIn(stream, 1, seq, index, h.layer_count, h.codebook_id, layers[index], tuple(h.token_shape),
                             h.fidelity))

    def answer(self, tokens, question, max_new_tokens=None, on_partial=None, should_stop=None):
        if on_partial is not None:
            on_partial("thinking")
        self.answers.append((int(np.asarray(tokens).size), question))
        return SimpleNamespace(text=f"answer to {question}", confidence=0.75)

    def pull(self, frame, wanted: int, reason: str) -> None:
        self.pulls.append((self.clock.t, frame.frame_seq, wanted))
        if self.deliver_pulls:
            self.due += [(self.clock.t + self.delay_s, frame.frame_seq, i) for i in range(frame.prefix, wanted)
                         if frame.layers[i] is None]

    def wait(self, version: int, timeout_s: float) -> int:
        """What Assembler.wait_for_change does, in fake time: deliver what is due, or let time pass."""
        end = self.clock.t + max(timeout_s, 0.0)
        ready = sorted(d for d in self.due if d[0] <= end)
        if ready:
            when, seq, index = ready[0]
            self.due.remove(ready[0])
            self.clock.t = max(self.clock.t, when)
            self.add(seq, index)
        else:
            self.clock.t = end
        return self.asm.version


def test_base_layer_answers_at_once_without_pulls():
    rig = Rig()
    rig.add(5, 0)
    result = rig.session.run(QueryRequest("what is it?", min_fidelity=0.0))
    assert result.success and result.frame_seq == 5 and result.layers_used == 1 and result.stream_id == "robot1"
    assert result.fidelity_reached and not rig.pulls and result.error_code == ErrorCode.NONE


def test_waits_and_pulls_until_the_fidelity_is_reached():
    rig = Rig(delay_s=0.3, pull_retry_s=0.25)
    rig.add(5, 0)
    target = read_header(frame_layers(5)[-1]).fidelity  # what the whole stack reaches
    result = rig.session.run(QueryRequest("q", min_fidelity=target, timeout_s=5.0))
    assert result.success and result.fidelity_reached, result
    assert result.layers_used > 1 and result.fidelity >= target
    assert rig.pulls and all(seq == 5 for _, seq, _ in rig.pulls)
    assert 0.29 < result.latency_s < 5.0  # fake time: the layers' delay, not the timeout


def test_pulls_repeat_every_retry_period_and_the_timeout_answers_with_what_is_held():
    rig = Rig(deliver_pulls=False, pull_retry_s=0.25)
    rig.add(5, 0)
    result = rig.session.run(QueryRequest("q", min_fidelity=0.999, timeout_s=1.0))
    assert result.success and not result.fidelity_reached and result.layers_used == 1
    times = [t for t, _, _ in rig.pulls]
    assert len(times) == 4 and np.allclose(np.diff(times), 0.25)  # 0, .25, .5, .75
    assert abs(result.latency_s - 1.0) < 1e-9


def test_timeout_is_capped_by_max_timeout():
    rig = Rig(deliver_pulls=False, max_timeout_s=0.5)
    rig.add(5, 0)
    assert abs(rig.session.run(QueryRequest("q", min_fidelity=0.999, timeout_s=60.0)).latency_s - 0.5) < 1e-9


def test_progress_reports_partial_text_and_every_refinement():
    rig = Rig(delay_s=0.1)
    rig.add(5, 0)
    seen = []
    result = rig.session.run(QueryRequest("q", min_fidelity=0.999, timeout_s=5.0), progress=lambda r, partial: seen.append((partial, r)))
    finals = [r.layers_used for partial, r in seen if not partial]
    assert finals == sorted(finals) and finals[0] == 1 and finals[-1] == result.layers_used
    assert any(partial and r.answer == "thinking" for partial, r in seen)


def test_cancel_stops_waiting():
    rig = Rig(deliver_pulls=False)
    rig.add(5, 0)
    calls = iter([False, False, True])
    result = rig.session.run(QueryRequest("q", min_fidelity=0.999, timeout_s=10.0), cancelled=lambda: next(calls, True))
    assert not result.success and result.error_code == ErrorCode.CANCELED and result.latency_s < 10.0


def test_request_and_stream_errors_have_codes():
    rig = Rig()
    assert rig.session.run(QueryRequest("q")).error_code == ErrorCode.UNKNOWN_STREAM  # nothing yet
    rig.add(5, 0)
    rig.add(7, 0, stream="robot2")
    cases = {
        ErrorCode.BAD_REQUEST: [QueryRequest("  "), QueryRequest("q", min_fidelity=float("nan")),
                                QueryRequest("q", timeout_s=-1.0), QueryRequest("q", frame_seq=-5)],
        ErrorCode.UNKNOWN_STREAM: [QueryRequest("q"), QueryRequest("q", stream_id="robot9")],
        ErrorCode.NO_FRAME: [QueryRequest("q", stream_id="robot1", frame_seq=6)],
    }
    for code, requests in cases.items():
        for req in requests:
            result = rig.session.run(req)
            assert not result.success and result.error_code == code, (req, result)
            assert result.error
    rig.session.cfg.default_stream = "robot2"
    assert rig.session.run(QueryRequest("q")).frame_seq == 7


def test_stale_stream_and_a_named_frame_of_it():
    rig = Rig(stream_stale_s=3.0)
    rig.add(5, 0)
    rig.clock.t += 10.0
    stale = rig.session.run(QueryRequest("q"))
    assert stale.error_code == ErrorCode.STALE_STREAM and "newest frame 5" in stale.error
    assert rig.session.run(QueryRequest("q", frame_seq=5)).success  # asked by number: answered


def test_whole_frames_only_never_answers_a_partial_frame():
    rig = Rig(deliver_pulls=False, whole_frames_only=True)
    rig.add(5, 0)
    result = rig.session.run(QueryRequest("q", timeout_s=0.5))
    assert not result.success and result.error_code == ErrorCode.TIMEOUT and not rig.answers


def test_model_failure_is_a_result_not_an_exception():
    rig = Rig()
    rig.add(5, 0)
    rig.session.answer_fn = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("CUDA out of memory"))
    result = rig.session.run(QueryRequest("q"))
    assert result.error_code == ErrorCode.MODEL and "out of memory" in result.error and result.frame_seq == 5


def test_latest_frame_waits_for_a_first_base_layer_within_timeout():
    """Only a refinement of the stream has arrived (its base layer was lost): a question about the latest
    frame waits up to timeout_s for a base layer instead of failing at once."""
    rig = Rig()
    rig.add(5, 1)  # layer 1 only: the stream exists, nothing decodes
    rig.due.append((rig.clock.t + 0.6, 6, 0))  # frame 6's base layer comes 0.6 s later
    t0 = rig.clock.t
    result = rig.session.run(QueryRequest("q", timeout_s=2.0))
    assert result.success and result.frame_seq == 6 and 0.6 <= rig.clock.t - t0 < 2.0
    rig2 = Rig()
    rig2.add(5, 1)
    late = rig2.session.run(QueryRequest("q", timeout_s=1.0))  # nothing comes: the same error, after the timeout
    assert late.error_code == ErrorCode.NO_FRAME and "no decodable frame" in late.error
    assert rig2.session.run(QueryRequest("q", timeout_s=0.0)).error_code == ErrorCode.NO_FRAME  # no wait asked: at once
