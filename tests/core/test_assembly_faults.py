"""prosem_core.assembly with real Meta AutoEncoder layers: every bad-input case, bounds, decoding."""
import threading

import numpy as np
import pytest
from layer_helpers import frame_layers, small_codec, structured_tokens

from prosem_core import auth
from prosem_core.assembly import Assembler, AssemblyConfig, LayerIn
from prosem_core.codec import read_header

KEY = b"k3y"


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def _asm(clock=None, **cfg):
    codec = small_codec()
    config = AssemblyConfig(codebook_id=codec.codebook_id, **cfg)
    clock = clock or Clock()
    return Assembler(config, read_header=read_header, decode=codec.decode, clock=clock, wall_clock=clock)


def _layer(seq, index, layers=None, stream="robot1", epoch=1, key=b"", **override):
    layers = layers or frame_layers(seq)
    h = read_header(layers[index])
    li = LayerIn(stream, epoch, seq, index, h.layer_count, h.codebook_id, layers[index], tuple(h.token_shape), h.fidelity,
                 send_stamp_ns=100_000_000_000)
    for name, value in override.items():
        setattr(li, name, value)
    if key:
        li.auth_tag = auth.sign(key, li.identity(), li.payload)
    return li


def test_in_order_prefix_fidelity_and_lazy_decode():
    a = _asm()
    layers = frame_layers(0)
    fids = [read_header(x).fidelity for x in layers]
    for i in range(len(layers)):
        r = a.add(_layer(0, i, layers))
        assert r.accepted, r
        assert r.frame.prefix == i + 1 and r.frame.fidelity == pytest.approx(fids[i])
    assert a.counters["decodes"] == 0  # nothing decoded until asked
    frame = a.streams["robot1"].frames[0]
    tokens, k = a.tokens(frame, 1)
    assert k == 1 and np.array_equal(tokens, small_codec().decode(layers[:1]))
    a.tokens(frame, 1)
    assert a.counters["decodes"] == 1  # cached
    full, k = a.tokens(frame)
    assert k == len(layers) and np.array_equal(full, small_codec().decode(layers))
    truth = structured_tokens(1, seed=0)[0]
    assert np.linalg.norm(full - truth) < np.linalg.norm(tokens - truth)  # refinement helps


def test_reordered_and_duplicated_layers():
    a = _asm()
    layers = frame_layers(3)
    assert a.add(_layer(3, 2, layers)).accepted
    frame = a.streams["robot1"].frames[3]
    assert frame.prefix == 0 and a.streams["robot1"].latest_decodable() is None
    with pytest.raises(ValueError, match="no base layer"):
        a.tokens(frame)
    assert a.add(_layer(3, 0, layers)).accepted
    assert frame.prefix == 1 and frame.received_mask == 0b101
    assert a.add(_layer(3, 1, layers)).accepted
    assert frame.prefix == 3
    assert a.add(_layer(3, 1, layers)).status == "duplicate"
    assert a.counters["duplicate"] == 1
    # Same identity, different bytes (another frame's layer 1 relabelled): kept out, counted.
    other = frame_layers(3, seed=50)
    assert a.add(_layer(3, 1, other)).status in ("conflict", "inconsistent")
    # Frames arriving out of order are kept in frame order.
    assert a.add(_layer(1, 0)).accepted
    assert list(a.streams["robot1"].frames) == [1, 3]


@pytest.mark.parametrize(
    "mutate, status",
    [
        (lambda li: setattr(li, "payload", li.payload[:-7]), "malformed"),  # truncated
        (lambda li: setattr(li, "payload", b"\x00" * 64), "malformed"),  # garbage
        (lambda li: setattr(li, "payload", li.payload[:20] + bytes([li.payload[20] ^ 1]) + li.payload[21:]), "malformed"),  # bit flip: CRC
        (lambda li: setattr(li, "payload", b""), "malformed"),
        (lambda li: setattr(li, "frame_seq", 9), "inconsistent"),  # message says 9, payload says 2
        (lambda li: setattr(li, "layer_index", 3), "inconsistent"),
        (lambda li: setattr(li, "stream_id", ""), "out_of_range"),
        (lambda li: setattr(li, "payload", li.payload + bytes(64 << 10)), "oversize"),
    ],
)
def test_malformed_layers_rejected_and_counted(mutate, status):
    a = _asm()
    li = _layer(2, 1)
    mutate(li)
    r = a.add(li)
    assert r.status == status and not r.accepted and r.detail
    assert a.counters[status] == 1
    assert a.add(_layer(2, 0)).accepted  # still working


def test_foreign_codebook_rejected():
    a = _asm()
    foreign = small_codec(seed=1)
    assert foreign.codebook_id != small_codec().codebook_id
    layers = foreign.encode(structured_tokens(1)[0], frame_seq=4)
    r = a.add(_layer(4, 0, layers))
    assert r.status == "foreign_codebook" and a.counters["foreign_codebook"] == 1


def test_temporal_layers_rejected_with_reason():
    codec = small_codec()
    ref = structured_tokens(1, seed=1)[0]
    layers = codec.encode(structured_tokens(1, seed=2)[0], frame_seq=5, reference=(4, codec.decode(codec.encode(ref, 4))))
    r = _asm().add(_layer(5, 0, layers))
    assert r.status == "unsupported_temporal" and "frame 4" in r.detail


def test_authentication():
    a = _asm(auth_key=KEY)
    assert a.add(_layer(0, 0, key=KEY)).accepted
    assert a.add(_layer(0, 1)).status == "unauthenticated"
    assert a.add(_layer(0, 1, key=b"wrong")).status == "forged"
    forged = _layer(0, 1, key=KEY)
    forged.frame_seq = 0
    forged.layer_index = 1
    forged.payload = frame_layers(0, seed=77)[1]  # valid layer bytes, tag of other bytes
    assert a.add(forged).status == "forged"
    assert a.counters["unauthenticated"] == 1 and a.counters["forged"] == 2
    assert a.add(_layer(0, 1, key=KEY)).accepted


def test_window_bounds_late_layers_and_bytes():
    a = _asm(max_frames_per_stream=4)
    for seq in range(10):
        assert a.add(_layer(seq, 0)).accepted
    s = a.streams["robot1"]
    assert list(s.frames) == [6, 7, 8, 9]
    assert a.counters["frames_evicted"] == 6
    r = a.add(_layer(2, 1))
    assert r.status == "late" and "window" in r.detail
    assert s.bytes_held == sum(f.bytes_total for f in s.frames.values())
    b = _asm(max_bytes_per_stream=1500)
    for seq in range(10):
        b.add(_layer(seq, 0))
        b.add(_layer(seq, 1))
    assert b.streams["robot1"].bytes_held <= 1500


def test_streams_bounded_allowed_and_expired():
    clock = Clock()
    a = _asm(clock=clock, max_streams=2, establish_frames=3, establish_s=1.0)
    for seq in range(3):  # two established, active streams
        assert a.add(_layer(seq, 0, stream="r1")).accepted
        assert a.add(_layer(seq, 0, stream="r2")).accepted
        clock.t += 0.5
    r = a.add(_layer(0, 0, stream="r3"))
    assert r.status == "too_many_streams" and "established, active" in r.detail
    clock.t += 30
    assert a.add(_layer(3, 0, stream="r2")).accepted
    assert a.expire_streams(10.0) == ["r1"]
    assert a.add(_layer(0, 0, stream="r3")).accepted
    b = _asm(allowed_streams=("r1",))
    assert b.add(_layer(0, 0, stream="intruder")).status == "foreign_stream"


def test_edge_restart_new_epoch_takes_over_after_silence_and_old_epoch_is_stale():
    clock = Clock()
    a = _asm(clock=clock)
    for seq in range(5):
        a.add(_layer(seq, 0, epoch=1))
        clock.t += 0.2
    clock.t += 3.0  # the edge restarts: its old epoch falls silent
    assert a.add(_layer(0, 0, epoch=2)).status == "pending_epoch"
    assert a.add(_layer(1, 0, epoch=2)).status == "pending_epoch"
    assert a.add(_layer(2, 0, epoch=2)).accepted  # third frame in a row: evidence enough (unkeyed)
    assert list(a.streams["robot1"].frames) == [0, 1, 2]  # the frames held while pending are kept
    assert a.counters["epoch_changes"] == 1
    r = a.add(_layer(4, 1, epoch=1))
    assert r.status == "stale_epoch" and r.feedback_status == 3 and r.notify


def test_loss_counts_from_gaps_and_indices():
    a = _asm()
    a.add(_layer(0, 0))
    a.add(_layer(0, 2))  # layer 1 missing
    a.add(_layer(3, 0))  # frames 1, 2 missing
    assert a.take_loss_counts("robot1") == (3 + 2 + 1, 3)  # 0..2 of frame 0, frames 1-2, frame 3 base
    assert a.take_loss_counts("robot1") == (0, 0)
    assert a.take_loss_counts("nobody") == (0, 0)


def test_layers_needed_uses_stream_history():
    a = _asm()
    layers = frame_layers(0)
    fids = [read_header(x).fidelity for x in layers]
    for i in range(len(layers)):
        a.add(_layer(0, i, layers))
    a.add(_layer(1, 0))
    frame = a.streams["robot1"].frames[1]
    assert a.layers_needed(frame, 0.0) == 1
    target = (fids[0] + fids[1]) / 2
    assert a.layers_needed(frame, target) == 2
    assert a.layers_needed(frame, 1.01) == len(layers)  # unreachable: everything
    fresh = _asm()
    fresh.add(_layer(0, 0))
    assert fresh.layers_needed(fresh.streams["robot1"].frames[0], 0.99) == len(layers)  # nothing known


def test_waiters_wake_on_new_layers():
    a = _asm()
    a.add(_layer(0, 0))
    version = a.version
    woke = []
    t = threading.Thread(target=lambda: woke.append(a.wait_for_change(version, 5.0)))
    t.start()
    a.add(_layer(0, 1))
    t.join(2)
    assert woke and woke[0] > version
    assert a.wait_for_change(a.version, 0.01) == a.version  # times out quietly


def test_complete_local_frame_bypasses_auth():
    a = _asm(auth_key=KEY)
    r = a.add_complete_frame("robot1", 3, 7, frame_layers(7))
    assert r.accepted and r.frame.complete
