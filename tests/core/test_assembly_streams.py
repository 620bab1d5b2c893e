"""Item 7 of issue 12: unknown streams expire fast and never lock a real new robot out; a query's empty
stream_id resolves per namespace and is not made ambiguous by a junk id."""
from layer_helpers import frame_layers, small_codec

from prosem_core import wire_codes
from prosem_core.assembly import Assembler, AssemblyConfig, LayerIn
from prosem_core.codec import read_header


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def _asm(clock, **cfg):
    codec = small_codec()
    return Assembler(AssemblyConfig(codebook_id=codec.codebook_id, **cfg), read_header=read_header, decode=codec.decode,
                     clock=clock, wall_clock=clock)


def _layer(seq, stream, epoch=1):
    payload = frame_layers(seq)[0]
    h = read_header(payload)
    return LayerIn(stream, epoch, seq, 0, h.layer_count, h.codebook_id, payload, tuple(h.token_shape), h.fidelity)


def _establish(a, clock, streams, frames=6, namespace="", start=0):
    for seq in range(start, start + frames):
        for sid in streams:
            assert a.add(_layer(seq, sid), namespace=namespace.format(sid=sid)).accepted
        clock.t += 0.5


def test_junk_ids_do_not_lock_a_real_new_robot_out():
    clock = Clock()
    a = _asm(clock, max_streams=16)
    _establish(a, clock, ["robot1"])
    for i in range(15):  # 15 junk ids fill max_streams
        assert a.add(_layer(0, f"junk{i}")).accepted
    assert len(a.streams) == 16
    clock.t += 0.5
    r = a.add(_layer(0, "robot2"))  # a real new robot
    assert r.accepted and "robot2" in a.streams
    assert a.counters["streams_evicted"] == 1 and "robot1" in a.streams
    _establish(a, clock, ["robot1", "robot2"], start=6)
    # The junk ids went silent: they expire after provisional_expire_s, far before stream_expire_s.
    clock.t += a.cfg.provisional_expire_s + 0.1
    a.add(_layer(20, "robot1"))
    a.add(_layer(20, "robot2"))
    gone = a.expire_streams(120.0)
    assert len(gone) == 14 and all(s.startswith("junk") for s in gone)
    assert a.counters["streams_expired_provisional"] == 14
    assert set(a.streams) == {"robot1", "robot2"}


def test_established_active_streams_are_never_evicted_for_a_newcomer():
    clock = Clock()
    a = _asm(clock, max_streams=3)
    _establish(a, clock, ["r1", "r2", "r3"])
    r = a.add(_layer(0, "intruder"))
    assert r.status == "too_many_streams" and "allowed_streams" in r.detail and r.notify
    assert set(a.streams) == {"r1", "r2", "r3"}
    clock.t += a.cfg.evict_idle_s + 1  # r1 .. r3 all silent now: the youngest silent one makes room
    assert a.add(_layer(0, "newcomer")).accepted and len(a.streams) == 3


def test_allowed_streams_are_established_at_once_and_others_refused():
    clock = Clock()
    a = _asm(clock, max_streams=2, allowed_streams=("r1", "r2"))
    assert a.add(_layer(0, "r1")).accepted and a.established(a.streams["r1"], clock.t)
    assert a.add(_layer(0, "junk")).status == "foreign_stream"
    clock.t += 60
    assert a.expire_streams(120.0) == []  # allowed streams are never provisional


def test_empty_stream_id_resolves_past_a_squatter_and_per_namespace():
    clock = Clock()
    a = _asm(clock)
    _establish(a, clock, ["robot1"], namespace="/robot1")
    a.add(_layer(0, "squatter"), namespace="/robot1")  # one foreign id used to make "" ambiguous for 120 s
    assert a.resolve_stream("").stream_id == "robot1"
    assert a.resolve_stream("", namespace="/robot1").stream_id == "robot1"
    assert a.resolve_stream("squatter").stream_id == "squatter"  # named, it is still reachable
    _establish(a, clock, ["robot2"], namespace="/robot2")
    several = a.resolve_stream("")
    assert several.stream_id is None and several.error_code == wire_codes.ERROR_UNKNOWN_STREAM
    assert "several streams" in several.error and "say which" in several.error
    assert a.resolve_stream("", namespace="/robot2").stream_id == "robot2"
    assert a.resolve_stream("", default_stream="robot2").stream_id == "robot2"
    mapping = {"/fleet": "robot1"}
    assert a.resolve_stream("", namespace="/fleet", namespace_defaults=mapping).stream_id == "robot1"
    unknown = a.resolve_stream("x" * 60)
    assert unknown.error_code == wire_codes.ERROR_UNKNOWN_STREAM and len(unknown.error) < 200


def test_nothing_sent_yet():
    a = _asm(Clock())
    choice = a.resolve_stream("")
    assert choice.error_code == wire_codes.ERROR_UNKNOWN_STREAM and choice.error == "no stream has sent anything yet"
