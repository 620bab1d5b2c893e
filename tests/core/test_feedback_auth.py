"""Item 6 of issue 12: LayerFeedback authenticated when keyed; forged or repeated receipts do not move
the edge's rate estimate; pulls budgeted to what the link estimate allows."""
import dataclasses
import math

import numpy as np
import pytest
from link_sim import SimLink

from prosem_core import auth, wire_codes
from prosem_core.edge_session import EdgeSession, EdgeSessionConfig
from prosem_core.link.controller import RateController
from prosem_core.link.estimator import EstimatorConfig, LinkEstimator

KEY = b"fleet-key"
GOOD = auth.FeedbackFields("robot1", 3, 7, received_mask=0b11, prefix_layers=2, bytes_received=900, stamp_ns=5_000_000_001,
                           frame_id="", receive_stamp_ns=4_000_000_000, echo_send_stamp_ns=3_000_000_000, hold_s=0.1,
                           layers_expected=4, layers_arrived=3, pull_layers=4, request_keyframe=False,
                           reason="query min_fidelity 0.950", status=wire_codes.STATUS_OK)

# -- sign / verify ------------------------------------------------------------------------------


def test_feedback_tag_roundtrip_and_float32_hold():
    tag = auth.sign_feedback(KEY, GOOD)
    assert len(tag) == auth.TAG_BYTES and auth.verify_feedback(KEY, GOOD, tag)
    # The receiver reads hold_s back as a float32: the tag was computed over float32 too.
    received = dataclasses.replace(GOOD, hold_s=float(np.float32(GOOD.hold_s)))
    assert received.hold_s != GOOD.hold_s and auth.verify_feedback(KEY, received, tag)
    assert not auth.verify_feedback(b"other", GOOD, tag)
    assert not auth.verify_feedback(KEY, GOOD, tag[:-1])
    assert not auth.verify_feedback(KEY, dataclasses.replace(GOOD, frame_seq=2**70), tag)  # cannot pack: False, no raise


@pytest.mark.parametrize("field, value", [
    ("stream_id", "robot2"), ("frame_seq", 4), ("epoch", 8), ("received_mask", 0b111), ("prefix_layers", 3),
    ("bytes_received", 901), ("stamp_ns", 5_000_000_002), ("frame_id", "x"), ("receive_stamp_ns", 1),
    ("echo_send_stamp_ns", 1), ("hold_s", 0.2), ("layers_expected", 5), ("layers_arrived", 4), ("pull_layers", 32),
    ("request_keyframe", True), ("reason", "query min_fidelity 0.990"), ("status", wire_codes.STATUS_DUPLICATE_STREAM),
])
def test_every_feedback_field_is_covered(field, value):
    tag = auth.sign_feedback(KEY, GOOD)
    assert not auth.verify_feedback(KEY, dataclasses.replace(GOOD, **{field: value}), tag)


def test_layer_and_feedback_tags_never_cross_verify():
    identity = auth.LayerIdentity("robot1", 7, 3, 0, 4, "00112233aabbccdd", 3_000_000_000)
    layer_tag = auth.sign(KEY, identity, b"payload")
    assert not auth.verify_feedback(KEY, GOOD, layer_tag)


# -- EdgeSession.handle_feedback ----------------------------------------------------------------


def _session(key=b"", **cfg):
    est = LinkEstimator(EstimatorConfig(initial_rate_bps=1e6))
    return EdgeSession(EdgeSessionConfig(stream_id="robot1", auth_key=key, **cfg), est, RateController(), epoch=7)


def _sent_frame(session, now, layers=4, size=450):
    seq = session.add_frame([bytes([i]) * size for i in range(layers)])
    session.mark_sent(seq, 0, size, now)
    return seq


def test_keyed_session_ignores_unsigned_and_forged_feedback():
    s = _session(KEY)
    seq = _sent_frame(s, 2.0)
    fields = dataclasses.replace(GOOD, frame_seq=seq, received_mask=1, prefix_layers=1, bytes_received=450,
                                 echo_send_stamp_ns=2_000_000_000, hold_s=0.01, pull_layers=3)
    for tag, reason in ((b"", "feedback_unauthenticated"), (auth.sign_feedback(b"wrong", fields), "feedback_forged")):
        out = s.handle_feedback(fields, tag, 2.1)
        assert not out.accepted and out.reason == reason and out.pulls == []
        assert s.counters[reason] == 1
    assert math.isnan(s.estimator.estimate(2.1).rtt_s)  # nothing reached the estimator
    out = s.handle_feedback(fields, auth.sign_feedback(KEY, fields), 2.1)
    assert out.accepted and out.pulls == [1, 2]
    assert s.estimator.estimate(2.1).rtt_s == pytest.approx(0.09)


def test_feedback_checks_ranges_stream_epoch_and_reports_cloud_status():
    s = _session()
    seq = _sent_frame(s, 1.0)
    assert s.handle_feedback(dataclasses.replace(GOOD, frame_seq=2**63), b"", 1.1).reason == "feedback_out_of_range"
    assert s.handle_feedback(dataclasses.replace(GOOD, stream_id="robot2"), b"", 1.1).reason == "feedback_other_stream"
    assert s.handle_feedback(dataclasses.replace(GOOD, epoch=8), b"", 1.1).reason == "feedback_stale_epoch"
    dup = dataclasses.replace(GOOD, frame_seq=seq, received_mask=0, prefix_layers=0, bytes_received=0, pull_layers=0,
                              status=wire_codes.STATUS_DUPLICATE_STREAM, reason="duplicate stream: another edge sends 'robot1'")
    out = s.handle_feedback(dup, b"", 1.2)
    assert out.accepted and out.status == wire_codes.STATUS_DUPLICATE_STREAM and "another edge" in out.status_reason
    assert s.counters["cloud_status_duplicate_stream"] == 1 and s.cloud_status[0] == wire_codes.STATUS_DUPLICATE_STREAM


def test_forged_pull_storm_is_budgeted_by_the_link_estimate():
    """A forged request for all 32 layers 200 times a second multiplied the uplink 6.5x; now pulled
    bytes stay within pull_share of the estimated rate (plus one burst)."""
    s = _session(pull_resend_min_s=0.0)
    layer_bytes, duration = 2_000, 2.0
    seq = s.add_frame([bytes(layer_bytes)] * 32)
    rate_bps = s.estimator.estimate(0.0).bandwidth_bps
    storm = dataclasses.replace(GOOD, frame_seq=seq, received_mask=0, prefix_layers=0, bytes_received=0, pull_layers=32)
    pulled = 0
    for tick in range(int(duration * 200)):
        now = tick / 200
        out = s.handle_feedback(storm, b"", now)
        for index in out.pulls:
            s.mark_sent(seq, index, layer_bytes, now)
        pulled += layer_bytes * len(out.pulls)
    cfg = s.cfg
    budget = cfg.pull_share * rate_bps / 8 * duration + max(cfg.pull_share * rate_bps / 8 * cfg.pull_burst_s, cfg.pull_min_burst_bytes)
    unbudgeted = 32 * layer_bytes * 200 * duration  # what the requests asked for
    assert pulled <= budget < unbudgeted / 50
    assert s.counters["pull_budget_suppressed"] > 0


def _drive(session, link, frames, forge=None, key=b""):
    """Frames of 3 layers every 0.2 s through the simulated link; genuine feedback signed with key;
    `forge(fields, now)` may inject what an attacker sends right after each genuine feedback."""
    t, seq = 0.0, 0
    while t < frames * 0.2 + 1.0:
        for t_back, fb in link.feedback_until(t):
            fields = auth.FeedbackFields("robot1", fb.frame_seq, session.epoch, received_mask=fb.received_mask,
                                         prefix_layers=bin(fb.received_mask + 1).count("0") - 1, bytes_received=fb.bytes_received,
                                         receive_stamp_ns=round(fb.receive_time * 1e9),
                                         echo_send_stamp_ns=round(fb.echo_send_time * 1e9), hold_s=fb.hold_s)
            session.handle_feedback(fields, auth.sign_feedback(key, fields) if key else b"", t_back)
            if forge:
                for forged in forge(fields, t_back):
                    session.handle_feedback(forged, b"", t_back)
        if seq < frames:
            s = session.add_frame([bytes(1000), bytes(1000), bytes(2000)])
            for i, size in enumerate((1000, 1000, 2000)):
                session.mark_sent(s, i, size, t)
                link.send(s, i, size, t)
            seq += 1
        t += 0.05
    return t


def _pinning_receipts(fields, now):
    """Receipts claiming the frame's bytes arrived over 10 s (a 32 kbit/s train) and a 5 s hold-free RTT."""
    return [dataclasses.replace(fields, received_mask=0b111, bytes_received=4000,
                                receive_stamp_ns=fields.receive_stamp_ns + 10_000_000_000, hold_s=0.0),
            dataclasses.replace(fields, frame_seq=fields.frame_seq + 1000, received_mask=0xFFFFFFFF)]


@pytest.mark.parametrize("key", [b"", KEY])
def test_forged_receipts_do_not_pin_the_rate_estimate(key):
    baseline = _session(key)
    t = _drive(baseline, SimLink(rate_bps=2e6, prop_s=0.03), frames=30, key=key)
    attacked = _session(key)
    _drive(attacked, SimLink(rate_bps=2e6, prop_s=0.03), frames=30, forge=_pinning_receipts, key=key)
    want, got = baseline.estimator.estimate(t), attacked.estimator.estimate(t)
    assert got.bandwidth_bps == pytest.approx(want.bandwidth_bps) and got.bandwidth_bps > 1e6
    assert got.rtt_s == pytest.approx(want.rtt_s) and got.goodput_bps == pytest.approx(want.goodput_bps)
    ignored = attacked.counters["feedback_unauthenticated"] if key else sum(attacked.estimator.rejected.values())
    assert ignored >= 2 * 25


def test_receipts_count_only_sent_layers_once_each():
    from prosem_core.link.estimator import Feedback

    est = LinkEstimator()
    est.on_sent(0, 0, 100, 10.0)
    est.on_sent(0, 1, 100, 10.001)
    assert not est.on_feedback(Feedback(5, 1, 100, 0.0, 10.0, 0.0), 10.2)  # a frame never sent
    assert not est.on_feedback(Feedback(0, 0b111, 100, 0.0, 10.0, 0.0), 10.2)  # layer 2 never sent
    assert not est.on_feedback(Feedback(0, 1, 5000, 0.0, 10.0, 0.0), 10.2)  # more bytes than sent
    assert est.on_feedback(Feedback(0, 1, 100, 0.0, 10.0, 0.05), 10.25)
    assert not est.on_feedback(Feedback(0, 1, 100, 0.0, 10.0, 0.0), 10.9)  # the same receipt again: nothing new
    assert est.estimate(10.9).rtt_s == pytest.approx(0.2)
    # Layer 1 "received" 30 s after layer 0 on the cloud clock, though it was sent 0.9 s ago: a fake train.
    assert not est.on_feedback(Feedback(0, 0b11, 200, 30.0, 10.001, 0.0), 10.9)
    assert est.on_feedback(Feedback(0, 0b11, 200, 0.004, 10.001, 0.0), 10.9)
    assert dict(est.rejected) == {"unknown_frame": 1, "unsent_layers": 1, "bytes_exceed_layers": 1, "nothing_new": 1,
                                  "implausible_receive_time": 1}


def test_session_signs_layers_the_keyed_assembler_accepts_and_rolls_its_epoch_before_2_32():
    from layer_helpers import frame_layers, small_codec

    from prosem_core.assembly import Assembler, AssemblyConfig, LayerIn
    from prosem_core.codec import read_header

    s = _session(KEY)
    seq = s.add_frame(frame_layers(0))
    payload = s.layer(seq, 0)
    h = read_header(payload)
    stamp_ns = 1_700_000_000_123_456_789
    layer = LayerIn("robot1", s.epoch, seq, 0, h.layer_count, h.codebook_id, payload, send_stamp_ns=stamp_ns,
                    auth_tag=s.layer_tag(seq, 0, h.layer_count, h.codebook_id, stamp_ns, payload))
    codec = small_codec()
    a = Assembler(AssemblyConfig(codebook_id=codec.codebook_id, auth_key=KEY), read_header, codec.decode,
                  clock=lambda: 1_700_000_000.2, wall_clock=lambda: 1_700_000_000.2)
    assert a.add(layer).accepted
    assert _session().layer_tag(seq, 0, 4, h.codebook_id, stamp_ns, payload) == b""  # no key, no tag
    s.next_seq = 2**32 - 1
    old_epoch = s.epoch
    assert s.add_frame([b"x"]) == 2**32 - 1 and s.epoch == old_epoch
    assert s.add_frame([b"x"]) == 0 and s.epoch != old_epoch and s.counters["epoch_rollovers"] == 1
