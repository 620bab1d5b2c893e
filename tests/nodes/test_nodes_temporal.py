"""Temporal layers through the real nodes: the edge (temporal:=true) codes frames against ones the cloud
confirmed, the cloud keeps the reference chains, and a question about a predicted frame is answered
as one about a keyframe; a cloud restart makes the edge send a keyframe."""
import numpy as np
import pytest
from node_harness import Graph, camera_frames, wait_for
from node_pipelines import real_pipeline

from prosem_core.codec import read_header

pytestmark = pytest.mark.timeout(180)
TEMPORAL = {"stream_id": "robot1", "temporal": True}


@pytest.fixture(scope="module")
def pipeline():
    return real_pipeline()


@pytest.fixture(scope="module")
def frames():
    """A camera that barely moves: one photo with a little sensor noise per frame."""
    rng = np.random.default_rng(3)
    photo = camera_frames(1)[0].astype(np.int16)
    return [np.clip(photo + rng.integers(-2, 3, photo.shape), 0, 255).astype(np.uint8) for _ in range(6)]


def _held_headers(g: Graph):
    stream = g.cloud.assembler.streams.get("robot1")
    if stream is None:
        return []
    return [read_header(f.layers[0]) for f in list(stream.frames.values()) if f.layers[0] is not None]


def test_predicted_frames_flow_and_are_answered_like_keyframes(pipeline, frames):
    with Graph(pipeline, edge=TEMPORAL) as g:
        assert g.feed_until(frames, lambda: sum(not h.keyframe for h in _held_headers(g)) >= 5, timeout_s=30.0)
        latest = g.query(min_fidelity=0.0)
        assert latest.success, latest.error
        predicted = max((h for h in _held_headers(g) if not h.keyframe), key=lambda h: h.frame_seq)
        r = g.query(frame_seq=predicted.frame_seq, min_fidelity=0.0)
        counters = g.edge.all_counters()
    with Graph(pipeline, edge={"stream_id": "robot1"}) as key:
        assert key.feed_until(frames[:1], lambda: key.query().success)
        k = key.query(min_fidelity=0.0)
    assert r.success, r.error
    # Same photo: the same answer and the same fidelity signalling (prefix, layers) as a keyframe.
    assert r.answer.split("(")[0] == k.answer.split("(")[0], (r.answer, k.answer)
    assert r.layers_used >= 1 and abs(r.fidelity - k.fidelity) < 0.05, (r.fidelity, k.fidelity)
    assert counters.get("keyframes_start") == 1 and counters.get("keyframes_requested", 0) == 0


def test_predicted_base_layers_are_smaller(pipeline, frames):
    with Graph(pipeline, edge=TEMPORAL) as g:
        assert g.feed_until(frames, lambda: sum(not h.keyframe for h in _held_headers(g)) >= 5, timeout_s=30.0)
        stream = g.cloud.assembler.streams["robot1"]
        sizes = {read_header(f.layers[0]).keyframe: len(f.layers[0]) for f in stream.frames.values() if f.layers[0]}
        keyframe_base = len(pipeline.codec.encode(pipeline.encoder.encode(frames[0]), frame_seq=0)[0])
    assert sizes[False] < 0.6 * keyframe_base, (sizes, keyframe_base)


def test_a_restarted_cloud_gets_a_keyframe(pipeline, frames):
    with Graph(pipeline, edge=TEMPORAL) as g:
        assert g.feed_until(frames, lambda: sum(not h.keyframe for h in _held_headers(g)) >= 3, timeout_s=30.0)
        g.cloud.refs._chains.clear()  # what a restarted cloud holds: no references
        assert g.feed_until(frames, lambda: g.edge.all_counters().get("keyframes_requested", 0) >= 1, timeout_s=30.0)
        assert g.feed_until(frames, lambda: g.query(min_fidelity=0.0).success, timeout_s=30.0)
        assert wait_for(lambda: g.cloud.all_counters().get("chain_broken", 0) >= 1, 5.0)


def test_a_cloud_without_chains_says_why_it_rejects(pipeline, frames):
    with Graph(pipeline, edge=TEMPORAL, cloud={"temporal": False}) as g:
        g.feed_until(frames, lambda: g.cloud.all_counters().get("unsupported_temporal", 0) >= 1, timeout_s=30.0)
        assert g.cloud.all_counters().get("unsupported_temporal", 0) >= 1
