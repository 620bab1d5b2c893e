"""Temporal coding through the edge's uplink and the cloud's assembly, ROS-free: predicted frames
against confirmed references, receipts, keyframe requests, loss, a scene cut, late questions."""
from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest
from layer_helpers import small_codec, structured_tokens

from prosem_core.assembly import Assembler, AssemblyConfig, LayerIn
from prosem_core.auth import FeedbackFields
from prosem_core.codec import read_header
from prosem_core.edge_session import EdgeSession, EdgeSessionConfig
from prosem_core.link.controller import RateController, RateControllerConfig
from prosem_core.link.estimator import EstimatorConfig, LinkEstimator
from prosem_core.temporal_refs import TemporalRefs
from prosem_core.uplink import UplinkConfig, build_uplink

EPOCH = 7


class Pair:
    """A temporal edge uplink and a cloud assembler with reference chains, joined by a lossy 'link'."""

    def __init__(self, loss: float = 0.0, seed: int = 0, temporal_refs: bool = True, **uplink) -> None:
        self.codec = small_codec()
        self.current = None
        pipeline = SimpleNamespace(encoder=SimpleNamespace(encode=lambda rgb: self.current), codec=self.codec)
        self.session = EdgeSession(EdgeSessionConfig("robot1"), LinkEstimator(EstimatorConfig(initial_rate_bps=1e6)),
                                   RateController(RateControllerConfig(enabled=False)), epoch=EPOCH)
        cfg = UplinkConfig(buffer_frames=16, temporal=True, temporal_history=8, **uplink)
        self.up = build_uplink("progressive", self.session, pipeline, cfg)
        self.refs = TemporalRefs(self.codec, history=48, max_streams=4) if temporal_refs else None
        self.cloud = Assembler(AssemblyConfig(codebook_id=self.codec.codebook_id, max_frames_per_stream=16),
                               read_header=read_header, decode=self.codec.decode, refs=self.refs)
        self.rng = random.Random(seed)
        self.loss = loss
        self.now = 100.0
        self.sent: dict[int, np.ndarray] = {}  # frame_seq -> the tokens it was made from

    def frame(self, tokens: np.ndarray, deliver: bool = True) -> list:
        """One camera frame through the edge; its layers cross the link (lossy) and come back as receipts."""
        self.now += 0.2
        self.current = tokens
        out = self.up.commit(self.up.prepare(None), self.now)
        for o in out:
            self.sent[o.frame_seq] = tokens
            if not deliver or self.rng.random() < self.loss:
                continue
            result = self.cloud.add(LayerIn("robot1", EPOCH, o.frame_seq, o.index, o.layer_count, o.codebook_id,
                                            o.payload, o.token_shape, o.fidelity, send_stamp_ns=int(self.now * 1e9)))
            assert result.accepted, result.detail
            self.refs is None or self.refs.drain()
            frame = result.frame
            keyframe = self.refs is not None and self.refs.keyframe_wanted("robot1")
            fb = FeedbackFields("robot1", frame.frame_seq, EPOCH, received_mask=frame.received_mask,
                                prefix_layers=frame.prefix, request_keyframe=keyframe,
                                echo_send_stamp_ns=int(self.now * 1e9), receive_stamp_ns=int(self.now * 1e9))
            if self.rng.random() >= self.loss:  # the feedback crosses the same lossy link
                self.up.feedback(fb, b"", self.now + 0.01)
        return out

    def answer_tokens(self, seq: int, k: int | None = None) -> np.ndarray:
        frame = self.cloud.streams["robot1"].frames[seq]
        return self.cloud.tokens(frame, k)[0]

    def close(self) -> None:
        if self.refs is not None:
            self.refs.close()


def _scene(n: int, seed: int = 4, drift: float = 0.03) -> np.ndarray:
    """A slowly changing scene: every frame a little away from the last (a panning camera)."""
    base = structured_tokens(1, seed=seed)[0]
    steps = structured_tokens(n, seed=seed + 1) * drift
    return (base + np.cumsum(steps, axis=0)).astype(np.float32)


def _rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture
def pair():
    p = Pair()
    yield p
    p.close()


@pytest.mark.parametrize("drift", [0.0, 0.03])
def test_predicted_frames_cost_less_and_decode_as_well(pair, drift):
    scene = _scene(30, drift=drift)
    keyframe_bytes = [len(x) for x in pair.codec.encode(scene[0], frame_seq=0)]
    base = [pair.frame(t)[0] for t in scene]
    headers = [read_header(o.payload) for o in base]
    assert headers[0].keyframe and sum(not h.keyframe for h in headers) >= 25
    delta_bytes = np.mean([len(o.payload) for o, h in zip(base, headers) if not h.keyframe])
    # A still scene costs the header and a few bytes; a moving one (on these synthetic tokens) less.
    assert delta_bytes < (0.5 if drift == 0 else 0.8) * keyframe_bytes[0], (delta_bytes, keyframe_bytes[0])
    # A question about a predicted frame: the same error as a keyframe of that frame would give.
    for o in base[-5:]:
        got = pair.answer_tokens(o.frame_seq, k=1)
        key = pair.codec.decode(pair.codec.encode(scene[o.frame_seq], frame_seq=o.frame_seq)[:1])
        assert _rel_err(got, scene[o.frame_seq]) < _rel_err(key, scene[o.frame_seq]) + 0.05
    assert pair.up.keyframe_reasons == {"start": 1}


def test_every_prefix_of_a_predicted_frame_decodes_and_refines(pair):
    scene = _scene(6)
    for t in scene:
        out = pair.frame(t)
    seq = out[0].frame_seq
    assert not out[0].keyframe
    errors = [_rel_err(pair.answer_tokens(seq, k), scene[seq]) for k in range(1, len(out) + 1)]
    assert errors == sorted(errors, reverse=True) and errors[-1] < errors[0]


def test_a_lost_reference_chain_asks_for_a_keyframe_and_recovers(pair):
    scene = _scene(20)
    for t in scene[:8]:
        pair.frame(t)
    # The cloud restarts its chains (a cloud restart keeps no references): the next delta fails.
    pair.refs._chains.clear()
    out = pair.frame(scene[8])
    assert not out[0].keyframe
    with pytest.raises(Exception, match="reference"):
        pair.answer_tokens(out[0].frame_seq)
    # The receipt of that frame asked for a keyframe: the next frame is one, and deltas follow again.
    nxt = pair.frame(scene[9])
    assert nxt[0].keyframe and pair.up.keyframe_reasons.get("requested") == 1
    later = [pair.frame(t)[0] for t in scene[10:14]]
    assert not later[-1].keyframe
    assert _rel_err(pair.answer_tokens(later[-1].frame_seq), scene[later[-1].frame_seq]) < 0.5


def test_thirty_percent_loss_keeps_every_held_frame_decodable():
    p = Pair(loss=0.3, seed=11)
    try:
        scene = _scene(80)
        for t in scene:
            p.frame(t)
        stream = p.cloud.streams["robot1"]
        held = [f for f in stream.frames.values() if f.prefix > 0]
        assert len(held) >= 8
        for f in held:  # as close as a keyframe with the same layers would be
            key = p.codec.decode(p.codec.encode(scene[f.frame_seq], frame_seq=f.frame_seq)[:f.prefix])
            assert _rel_err(p.answer_tokens(f.frame_seq), scene[f.frame_seq]) < _rel_err(key, scene[f.frame_seq]) + 0.05
        deltas = sum(not read_header(f.layers[0]).keyframe for f in held)
        assert deltas >= len(held) // 2  # loss did not force keyframes everywhere
    finally:
        p.close()


def test_a_cut_link_ends_in_a_keyframe_after_the_references_age_out(pair):
    scene = _scene(40)
    for t in scene[:10]:
        pair.frame(t)
    for t in scene[10:25]:  # 15 frames sent into a dead link: nothing confirmed any more
        pair.frame(t, deliver=False)
    out = pair.frame(scene[25])
    assert out[0].keyframe  # the last confirmed frame is more than temporal_history frames back
    assert "no reference" in pair.up.keyframe_reasons
    assert _rel_err(pair.answer_tokens(out[0].frame_seq), scene[25]) < 0.5


def test_a_scene_cut_is_a_keyframe(pair):
    for t in _scene(6):
        pair.frame(t)
    out = pair.frame(structured_tokens(1, seed=77)[0] * 3.0 + 5.0)  # another scene altogether
    assert out[0].keyframe and pair.up.keyframe_reasons.get("scene cut") == 1


def test_a_question_late_by_many_frames_still_decodes(pair):
    """A frame the cloud still holds decodes even after many newer frames came (its reference is kept
    as long as the frame is)."""
    scene = _scene(30)
    out = [pair.frame(t)[0] for t in scene[:16]]
    old = out[3].frame_seq
    for t in scene[16:28]:
        pair.frame(t)
    if old in pair.cloud.streams["robot1"].frames:
        assert _rel_err(pair.answer_tokens(old), scene[old]) < 0.5


def test_a_cloud_without_chains_rejects_predicted_frames_saying_what_to_do():
    p = Pair(temporal_refs=False)
    try:
        p.frame(_scene(1)[0])  # the keyframe is accepted
        p.current = _scene(2)[1]
        p.up.temporal.confirm(0)
        out = p.up.commit(p.up.prepare(None), 200.0)
        assert not out[0].keyframe
        result = p.cloud.add(LayerIn("robot1", EPOCH, out[0].frame_seq, 0, out[0].layer_count, out[0].codebook_id,
                                     out[0].payload, out[0].token_shape))
        assert result.status == "unsupported_temporal" and "temporal:=true" in result.detail
    finally:
        p.close()


def test_a_broken_chain_asks_once_then_again_after_retry_s():
    now = [0.0]
    codec = small_codec()
    refs = TemporalRefs(codec, history=8, max_streams=2, retry_s=1.0, clock=lambda: now[0])
    try:
        from prosem_core.codec.temporal import TemporalEncoder

        tx = TemporalEncoder(codec, cut_threshold=None)
        scene = _scene(3)
        key = tx.encode(scene[0], 0)
        tx.confirm(0)
        tx.encode(scene[1], 1)
        tx.confirm(1)
        delta = tx.encode(scene[2], 2)  # coded against frame 1, which the cloud never got
        refs.offer("r", 1, key[0])
        refs.offer("r", 1, delta[0])
        assert refs.drain()
        assert refs.keyframe_wanted("r") and not refs.keyframe_wanted("r")  # once...
        now[0] = 0.5
        assert not refs.keyframe_wanted("r")
        now[0] = 1.2
        assert refs.keyframe_wanted("r")  # ...and again while still broken
        refs.offer("r", 1, codec.encode(scene[2], frame_seq=3)[0])  # a keyframe repairs the chain
        assert refs.drain()
        now[0] = 5.0
        assert not refs.keyframe_wanted("r") and refs.counters["chain_broken"] == 1
        assert not refs.keyframe_wanted("unknown stream")
    finally:
        refs.close()
