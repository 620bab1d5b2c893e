"""prosem_core.uplink: each uplink mode's frame path and feedback, without ROS (a test double of the
vision half, the small real codec)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from layer_helpers import small_codec, structured_tokens

from prosem_core import images, token_chunks
from prosem_core.auth import FeedbackFields
from prosem_core.codec import read_header
from prosem_core.edge_session import EdgeSession, EdgeSessionConfig
from prosem_core.link.controller import RateController, RateControllerConfig
from prosem_core.link.estimator import EstimatorConfig, LinkEstimator
from prosem_core.modes import MODE_NAMES, MODES
from prosem_core.query_types import ErrorCode, QueryRequest
from prosem_core.uplink import UPLINKS, UplinkConfig, build_uplink

RGB = np.full((48, 64, 3), 120, np.uint8)


def _uplink(mode: str, rate_bps: float = 1e6, **controller):
    tokens = structured_tokens(1, seed=3)[0]
    pipeline = SimpleNamespace(encoder=SimpleNamespace(encode=lambda rgb: tokens), codec=small_codec(),
                               answerer=SimpleNamespace(answer=lambda t, q, **kw: SimpleNamespace(text=f"{q}!", confidence=0.9)))
    session = EdgeSession(EdgeSessionConfig("robot1"), LinkEstimator(EstimatorConfig(initial_rate_bps=rate_bps)),
                          RateController(RateControllerConfig(**controller)), epoch=7)
    return build_uplink(mode, session, pipeline, UplinkConfig(buffer_frames=4)), session


def test_every_mode_has_exactly_one_uplink():
    assert set(UPLINKS) == set(MODE_NAMES) == set(MODES)
    with pytest.raises(ValueError, match="unknown mode 'teleport'"):
        _uplink("teleport")


def test_progressive_pushes_base_and_refinements_and_serves_pulls():
    up, session = _uplink("progressive", enabled=False)  # no rate control: push the whole stack
    out = up.commit(up.prepare(RGB), now=10.0, context="hdr0")
    assert [o.channel for o in out] == ["base"] + ["refine"] * (len(out) - 1)
    assert len(out) == small_codec().layer_count and {o.frame_seq for o in out} == {0}
    assert out[0].context == "hdr0" and out[0].codec_id == "prosem-mae/1"
    assert all(read_header(o.payload).layer_index == o.index for o in out)
    assert session.counters["layers_sent"] == len(out)
    # The cloud holds only the base layer and asks for two layers: layer 1 comes back on the base channel.
    fb = FeedbackFields("robot1", 0, 7, received_mask=0b1, prefix_layers=1, pull_layers=2, echo_send_stamp_ns=10_000_000_000,
                        receive_stamp_ns=10_050_000_000, hold_s=1.95)
    outcome, pulled = up.feedback(fb, b"", now=12.0)
    assert outcome.accepted and [(o.index, o.channel, o.context) for o in pulled] == [(1, "base", "hdr0")]
    # Another robot's feedback, or an old epoch's: ignored and counted, nothing re-sent.
    for other in (FeedbackFields("robot2", 0, 7, pull_layers=4), FeedbackFields("robot1", 0, 8, pull_layers=4)):
        outcome, pulled = up.feedback(other, b"", now=13.0)
        assert not outcome.accepted and pulled == []


def test_progressive_rate_plan_can_skip_a_frame_without_using_a_sequence_number():
    up, session = _uplink("progressive", rate_bps=2e3)  # a 50 B delay window: one base layer fills it
    first = up.commit(up.prepare(RGB), now=10.0)
    assert [o.index for o in first] == [0]  # only the base layer fits
    assert up.commit(up.prepare(RGB), now=10.1) == []  # queue full: skipped
    assert session.next_seq == 1  # numbers stay dense: a gap at the cloud means loss, not a skip


def test_full_tokens_sends_whole_frames_of_chunks():
    up, _ = _uplink("full_tokens", enabled=False)
    out = up.commit(up.prepare(RGB), now=1.0)
    assert out and all(o.channel == "base" and o.codec_id == token_chunks.FP16_CODEC_ID for o in out)
    joined = token_chunks.join_chunks([o.payload for o in out])
    assert np.allclose(joined, structured_tokens(1, seed=3)[0], atol=1e-2)


def test_full_cloud_sends_jpeg_and_times_rtt_from_its_own_send_time():
    up, session = _uplink("full_cloud", enabled=False)
    assert not up.needs_tokens
    (out,) = up.commit(up.prepare(RGB), now=20.0)
    assert out.channel == "jpeg" and images.decode_image_bytes(out.payload).shape == RGB.shape
    # The cloud's receipt echoes its own arrival stamp; the uplink substitutes the real send time.
    assert up.echo_override(FeedbackFields("robot1", 0, 7, echo_send_stamp_ns=99_000_000_000)) == 20.0
    outcome, pulled = up.feedback(FeedbackFields("robot1", 0, 7, pull_layers=4), b"", now=20.2)
    assert outcome.accepted and pulled == []  # nothing to pull


def test_full_edge_answers_from_the_newest_frame_only():
    up, _ = _uplink("full_edge")
    assert up.answer(QueryRequest("what?"), up.pipeline.answerer.answer).error_code == ErrorCode.NO_FRAME
    assert up.commit(up.prepare(RGB), now=1.0) == []
    up.commit(up.prepare(RGB), now=2.0)
    answer = lambda t, q, **kw: up.pipeline.answerer.answer(t, q)
    result = up.answer(QueryRequest("what?"), answer)
    assert result.success and result.answer == "what?!" and result.frame_seq == 1 and result.stream_id == "robot1"
    assert up.answer(QueryRequest("what?", frame_seq=0), answer).error_code == ErrorCode.NO_FRAME
    assert up.answer(QueryRequest(""), answer).error_code == ErrorCode.BAD_REQUEST
