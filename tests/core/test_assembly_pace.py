"""Item 2 of issue 12: a frame numbered far ahead of its stream's pace is held apart and never becomes
"latest" on its own; the latest frame follows arrival time and the edge's own pace."""
import math

from layer_helpers import frame_layers, small_codec

from prosem_core import wire_codes
from prosem_core.assembly import Assembler, AssemblyConfig, LayerIn
from prosem_core.codec import read_header
from prosem_core.frame_pace import FramePace, PaceConfig


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def _setup():
    clock = Clock()
    codec = small_codec()
    a = Assembler(AssemblyConfig(codebook_id=codec.codebook_id), read_header=read_header, decode=codec.decode, clock=clock,
                  wall_clock=clock)
    return a, clock


def _base(seq, stream="robot1", epoch=1):
    """A valid base layer of frame `seq` (its payload header names the same frame)."""
    payload = frame_layers(seq)[0]
    h = read_header(payload)
    return LayerIn(stream, epoch, seq, 0, h.layer_count, h.codebook_id, payload, tuple(h.token_shape), h.fidelity)


def _stream_at_5fps(a, clock, frames=10):
    for seq in range(frames):
        assert a.add(_base(seq)).accepted
        clock.t += 0.2


def test_forged_far_ahead_frame_never_becomes_latest():
    a, clock = _setup()
    _stream_at_5fps(a, clock)
    forged = 9 + 10**6
    r = a.add(_base(forged))
    assert r.status == "held_ahead" and "ahead" in r.detail
    assert a.latest_frame("robot1").frame_seq == 9
    assert a.pick_frame("robot1").frame.frame_seq == 9
    # The attacker keeps going (three frames continuing each other) while the real edge is alive.
    for k in range(1, 4):
        clock.t += 0.05
        assert a.add(_base(forged + k)).status == "held_ahead"
        assert a.add(_base(9 + k)).accepted  # the real camera's next frame
        clock.t += 0.15
        assert a.latest_frame("robot1").frame_seq == 9 + k
    assert a.counters["held_ahead"] == 4 and a.counters["ahead_promoted"] == 0
    assert max(a.streams["robot1"].frames) < 10**6
    assert a.pick_frame("robot1", forged).error_code == 3  # not held: ERROR_NO_FRAME


def test_real_jump_after_a_long_loss_burst_is_promoted_once_the_new_line_continues():
    a, clock = _setup()
    _stream_at_5fps(a, clock)
    clock.t += 1.0  # one second of nothing: the edge sent ~5 frames, and say 300 numbers were lost
    jump = 9 + 300
    assert a.add(_base(jump)).status == "held_ahead"
    clock.t += 0.2
    assert a.add(_base(jump + 1)).status == "held_ahead"
    clock.t += 0.2
    assert a.add(_base(jump + 2)).accepted  # three frames continuing each other, old line silent
    assert a.counters["ahead_promoted"] == 1
    assert a.latest_frame("robot1").frame_seq == jump + 2
    assert {jump, jump + 1, jump + 2} <= set(a.streams["robot1"].frames)
    clock.t += 0.2
    assert a.add(_base(jump + 3)).accepted  # from now on the new line is the stream's pace


def test_plausible_jump_is_latest_only_until_the_streams_own_frames_overtake_it_in_time():
    a, clock = _setup()
    _stream_at_5fps(a, clock)
    assert a.add(_base(9 + 12)).accepted  # within the slack: on the main line
    assert a.latest_frame("robot1").frame_seq == 21
    latest = []
    for seq in range(10, 15):
        clock.t += 0.2
        assert a.add(_base(seq)).accepted
        latest.append(a.latest_frame("robot1").frame_seq)
    # Within the default 0.5 s window frame 21 still leads; after it, arrival time does, not the number.
    assert latest == [21, 21, 12, 13, 14]


def test_pace_bound_grows_with_time_and_follows_the_observed_rate():
    cfg = PaceConfig(max_frame_rate_hz=30.0, rate_margin=2.0, ahead_slack_frames=16)
    pace = FramePace(cfg)
    assert pace.allowed_ahead(0.0) == 16 and math.isnan(pace.frame_interval_s())
    for i in range(8):
        pace.observe(i, i * 0.2)  # 5 frames per second
    assert math.isclose(pace.rate_hz(), 5.0)
    assert math.isclose(pace.frame_interval_s(), 0.2)
    assert pace.allowed_ahead(1.4) == 16  # just after the last frame
    assert pace.allowed_ahead(1.4 + 10.0) == 16 + 100  # 10 s x 2 x 5 Hz
    fast = FramePace(cfg)
    for i in range(8):
        fast.observe(i * 100, i * 0.2)  # 500 numbers per second: capped at max_frame_rate_hz
    assert fast.allowed_ahead(1.4 + 1.0) == 16 + 30


def test_a_slow_model_is_not_stale_between_its_frames():
    """A vision half that takes seconds per frame sends a frame every few seconds: "the latest frame"
    stays valid for a few of its own frame intervals, not just stream_stale_s."""
    a, clock = _setup()
    for seq in range(5):  # one frame every 4 s
        assert a.add(_base(seq)).accepted
        clock.t += 4.0
    clock.t -= 1.0  # 3 s after the newest frame: over stream_stale_s, under 3 intervals (12 s)
    assert a.pick_frame("robot1", -1, stale_s=2.0).frame.frame_seq == 4
    clock.t += 10.0  # 13 s: silent for more than three of its intervals
    assert a.pick_frame("robot1", -1, stale_s=2.0).error_code == wire_codes.ERROR_STALE_STREAM
