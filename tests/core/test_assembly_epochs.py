"""Item 5 of issue 12: a new epoch takes over only with evidence (signed and fresh when keyed; several
frames in a row while the old epoch is silent when not), duplicate stream ids are detected and
reported, and rejections keep their reason so queries can say what happened."""
from layer_helpers import frame_layers, small_codec

from prosem_core import auth, wire_codes
from prosem_core.assembly import Assembler, AssemblyConfig, LayerIn
from prosem_core.codec import read_header

KEY = b"fleet-key"


class Clock:
    def __init__(self, t=1_700_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


def _asm(clock, **cfg):
    codec = small_codec()
    return Assembler(AssemblyConfig(codebook_id=codec.codebook_id, **cfg), read_header=read_header, decode=codec.decode,
                     clock=clock, wall_clock=clock)


def _layer(seq, epoch, stamp, key=b"", stream="robot1", codec_seed=0):
    payload = frame_layers(seq, codec_seed=codec_seed)[0]
    h = read_header(payload)
    li = LayerIn(stream, epoch, seq, 0, h.layer_count, h.codebook_id, payload, tuple(h.token_shape), h.fidelity,
                 send_stamp_ns=int(round(stamp * 1e9)))
    if key:
        li.auth_tag = auth.sign(key, li.identity(), payload)
    return li


def _run(a, clock, epoch, seqs, key=b"", period=0.2, stream="robot1"):
    results = []
    for seq in seqs:
        results.append(a.add(_layer(seq, epoch, clock.t, key, stream)))
        clock.t += period
    return results


def test_one_forged_layer_of_an_unseen_epoch_retires_nothing():
    clock = Clock()
    a = _asm(clock)
    assert all(r.accepted for r in _run(a, clock, 1, range(10)))
    r = a.add(_layer(0, 666, clock.t))
    assert r.status == "pending_epoch" and not r.notify
    # Even a burst of forged frames in a row takes nothing over while the real edge is alive.
    assert {a.add(_layer(s, 666, clock.t)).status for s in range(1, 6)} == {"pending_epoch"}
    assert all(r.accepted for r in _run(a, clock, 1, range(10, 15)))
    assert a.streams["robot1"].epoch == 1 and a.counters["epoch_changes"] == 0
    assert a.pick_frame("robot1").frame.frame_seq == 14


def test_duplicate_stream_detected_established_one_kept_both_told_and_nobody_locked_out():
    clock = Clock()
    a = _asm(clock)
    _run(a, clock, 1, range(5))
    # A second edge with the same stream_id: both alive, frames interleaved.
    statuses = []
    for k in range(6):
        assert a.add(_layer(5 + k, 1, clock.t)).accepted
        clock.t += 0.1
        statuses.append(a.add(_layer(k, 2, clock.t)))
        clock.t += 0.1
    dup = [r for r in statuses if r.status == "duplicate_stream"]
    assert dup and dup[0].feedback_status == wire_codes.STATUS_DUPLICATE_STREAM and dup[0].notify and dup[0].epoch == 2
    assert "give each robot its own stream_id" in dup[0].detail
    assert a.counters["duplicate_streams_detected"] == 1
    assert a.streams["robot1"].epoch == 1  # the established edge is kept ...
    status, reason = a.feedback_status("robot1")
    assert status == wire_codes.STATUS_DUPLICATE_STREAM and "duplicate" in reason  # ... and told
    ok = a.add(_layer(11, 1, clock.t))
    assert ok.accepted and ok.feedback_status == wire_codes.STATUS_DUPLICATE_STREAM
    # The established edge dies: the other one takes over by the silence rule (no lockout).
    clock.t += 2.0
    results = _run(a, clock, 2, range(6, 9))
    assert results[-1].accepted and a.streams["robot1"].epoch == 2
    clock.t += a.cfg.epochs.duplicate_hold_s + 1
    assert a.feedback_status("robot1")[0] == wire_codes.STATUS_OK


def test_keyed_replay_after_cloud_restart_is_refused_by_freshness():
    clock = Clock()
    a = _asm(clock, auth_key=KEY)
    captured = _layer(3, 77, clock.t, KEY)  # a signed frame someone recorded
    assert a.add(captured).accepted
    clock.t += 120.0  # the cloud restarts two minutes later: it remembers nothing
    b = _asm(clock, auth_key=KEY)
    r = b.add(captured)
    assert r.status == "stale_stamp" and "chrony/NTP" in r.detail and r.feedback_status == wire_codes.STATUS_REJECTED
    assert b.add(_layer(0, 5, clock.t, KEY)).accepted  # the live edge is not locked out
    assert b.add(_layer(1, 5, clock.t + 40, KEY)).status == "stale_stamp"  # the future is no better
    altered = _layer(2, 5, clock.t, KEY)
    altered.send_stamp_ns += 1  # the stamp is covered by the tag
    assert b.add(altered).status == "forged"


def test_keyed_restart_takes_over_with_one_fresh_frame_and_an_old_epoch_replay_cannot_take_back():
    clock = Clock()
    a = _asm(clock, auth_key=KEY)
    old_epoch = [_layer(s, 1, clock.t + 0.2 * s, KEY) for s in range(5)]
    for li in old_epoch:
        assert a.add(li).accepted
        clock.t += 0.2
    clock.t += 3.0  # the edge restarts
    assert a.add(_layer(0, 2, clock.t, KEY)).accepted  # signed and fresh: one frame is evidence enough
    assert a.streams["robot1"].epoch == 2
    _run(a, clock, 2, range(1, 4), key=KEY)
    clock.t += 2.0  # the new epoch is silent for a moment (link outage) ...
    r = a.add(old_epoch[4])  # ... and a captured frame of the old epoch, still within 30 s, is replayed
    assert r.status == "stale_epoch" and a.streams["robot1"].epoch == 2


def test_keyed_candidate_with_newer_stamps_but_current_alive_does_not_take_over():
    clock = Clock()
    a = _asm(clock, auth_key=KEY)
    for seq in range(5):
        assert a.add(_layer(seq, 1, clock.t, KEY)).accepted
        clock.t += 0.1
        assert a.add(_layer(seq, 2, clock.t, KEY)).status in ("pending_epoch", "duplicate_stream")
        clock.t += 0.1
    assert a.streams["robot1"].epoch == 1


def test_rejections_keep_their_reason_for_queries_and_notify_is_throttled():
    clock = Clock()
    a = _asm(clock)
    first = a.add(_layer(0, 1, clock.t, codec_seed=1))  # another codebook (e.g. another model version)
    assert first.status == "foreign_codebook" and first.notify and first.feedback_status == wire_codes.STATUS_REJECTED
    assert "foreign codebook" in first.detail and "ours" in first.detail
    clock.t += 0.2
    assert not a.add(_layer(1, 1, clock.t, codec_seed=1)).notify  # once per interval per stream/epoch/status
    clock.t += a.cfg.status_notify_interval_s
    assert a.add(_layer(2, 1, clock.t, codec_seed=1)).notify
    choice = a.resolve_stream("")
    assert choice.stream_id is None and choice.error_code == wire_codes.ERROR_REJECTED
    assert "foreign codebook" in choice.error and "3 layers" in choice.error
    named = a.resolve_stream("robot1")
    assert named.error_code == wire_codes.ERROR_REJECTED and "robot1" in named.error
    assert a.resolve_stream("robot9").error_code == wire_codes.ERROR_UNKNOWN_STREAM


def test_stale_stream_error_says_its_layers_are_now_rejected():
    clock = Clock()
    a = _asm(clock, auth_key=KEY)
    _run(a, clock, 1, range(3), key=KEY)
    clock.t += 5.0
    a.add(_layer(3, 1, clock.t - 60.0, KEY))  # the edge's clock jumped back a minute
    pick = a.pick_frame("robot1", stale_s=3.0)
    assert pick.frame is None and pick.error_code == wire_codes.ERROR_REJECTED
    assert "stale stamp" in pick.error and "chrony/NTP" in pick.error
    assert a.pick_frame("robot1", frame_seq=2).frame is not None  # explicit frames still answer
