"""Bags of a live edge/cloud run: record the camera and the layers, then
1. replay the camera into a fresh edge + cloud and get the same answers,
2. replay the layers straight into a fresh cloud node (no edge) and get the same answers.

In-process nodes (private context, random domain) with the deterministic test pipeline, so equal
inputs must give equal answers; the edge pushes every layer (rate_control off) so what a frame
holds does not depend on timing."""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
from node_harness import Graph, camera_frames, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nodes"))
from pipelines import double_pipeline  # noqa: E402  (the node tier's deterministic test pipeline)

from prosem_core import bags
from prosem_ros import bag_ros

pytestmark = pytest.mark.timeout(180)

CAMERA = "/camera/image_raw"
LAYER_TOPICS = ["/prosem/layers", "/prosem/layers/refine"]
EDGE = {"rate_control": False, "max_encode_rate_hz": 10.0}
N_FRAMES = 3


def _stamp_ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _tap_layers(g: Graph) -> dict[int, int]:
    """frame_seq -> capture stamp (ns) of the layers this graph's edge publishes."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from prosem_msgs.msg import SemanticLayer

    seen: dict[int, int] = {}
    # Best effort: matches the edge's base-layer writer whichever base_reliability it uses.
    g.client_node.create_subscription(SemanticLayer, "prosem/layers",
                                      lambda m: seen.setdefault(int(m.frame_seq), _stamp_ns(m.header.stamp)),
                                      QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT))
    return seen


def _answers(g: Graph, seqs_by_stamp: dict[int, int]) -> dict[int, tuple]:
    out = {}
    for stamp, seq in sorted(seqs_by_stamp.items()):
        r = g.query(frame_seq=seq, min_fidelity=0.0, timeout_s=1.0)
        assert r.success, f"frame {seq}: {r.error}"
        out[stamp] = (r.answer, r.layers_used, r.bytes_used, round(float(r.fidelity), 6))
    return out


@pytest.fixture(scope="module")
def pipeline():
    return double_pipeline()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, pipeline):
    """A bag of a live run and the answers the live cloud gave for each recorded frame."""
    bag_dir = tmp_path_factory.mktemp("live") / "bag"
    with Graph(pipeline, edge=EDGE) as g:
        tap = _tap_layers(g)
        stop = threading.Event()
        result = {}
        rec = threading.Thread(target=lambda: result.update(stats=bag_ros.record(
            bag_dir, [CAMERA, *LAYER_TOPICS], stop=stop, context=g.ctx, log=lambda _m: None)))
        rec.start()
        # Publish only once the recorder listens to the camera and to both layer streams.
        layer_pubs = [g.edge.transport.base_pub, *g.edge.transport.refine_pubs.values()]
        assert wait_for(lambda: g.camera.get_subscription_count() >= 2 and all(p.get_subscription_count() >= 2 for p in layer_pubs),
                        15.0), "recorder did not subscribe"
        for frame in camera_frames(N_FRAMES):
            g.publish(frame)
            time.sleep(0.5)
        assert wait_for(lambda: len(tap) >= N_FRAMES, 15.0), f"edge sent {len(tap)} of {N_FRAMES} frames"
        time.sleep(0.5)
        answers = _answers(g, {stamp: seq for seq, stamp in tap.items()})
        stop.set()
        rec.join(15)
    stats = result["stats"]
    assert stats.counts[CAMERA] == N_FRAMES and stats.counts["/prosem/layers"] >= N_FRAMES
    return bag_dir, answers


def test_recorded_bag_holds_camera_and_layers(recorded):
    bag_dir, answers = recorded
    topics = bags.bag_topics(bag_dir)
    assert topics[CAMERA].msgtype == "sensor_msgs/msg/Image"
    assert topics["/prosem/layers"].msgtype == "prosem_msgs/msg/SemanticLayer"
    assert len(list(bags.read_images(bag_dir, CAMERA))) == N_FRAMES
    layers = [bags.deserialize(m.data, "prosem_msgs/msg/SemanticLayer") for m in bags.read_messages(bag_dir, LAYER_TOPICS)]
    stamps = {int(m.header.stamp.sec) * 1_000_000_000 + int(m.header.stamp.nanosec) for m in layers}
    assert stamps == set(answers), "every answered frame's layers are in the bag"
    # Every layer of every frame was recorded (the edge pushed them all).
    per_frame, counts = {}, {}
    for m in layers:
        per_frame.setdefault(int(m.frame_seq), set()).add(int(m.layer_index))
        counts[int(m.frame_seq)] = int(m.layer_count)
    assert counts and all(per_frame[seq] == set(range(n)) for seq, n in counts.items())
    # The frames differ, so "the same answers" below is a real comparison.
    assert len({a[0] for a in answers.values()}) == N_FRAMES


def test_replayed_camera_gives_a_fresh_pair_the_same_answers(recorded, pipeline):
    bag_dir, answers = recorded
    with Graph(pipeline, edge=EDGE) as g:
        tap = _tap_layers(g)
        stats = bag_ros.play(bag_dir, topics=[CAMERA], wait_subscribers_s=10.0, context=g.ctx, log=lambda _m: None)
        assert stats.published == N_FRAMES
        assert wait_for(lambda: len(tap) >= N_FRAMES, 15.0), f"edge sent {len(tap)} of {N_FRAMES} frames"
        time.sleep(0.5)
        replay = _answers(g, {stamp: seq for seq, stamp in tap.items()})
    # The bag keeps the camera's header stamps, so frames are matched by capture time.
    assert replay == answers


def test_replayed_layers_give_a_cloud_alone_the_same_answers(recorded, pipeline):
    bag_dir, answers = recorded
    layer_msgs = [bags.deserialize(m.data, "prosem_msgs/msg/SemanticLayer") for m in bags.read_messages(bag_dir, ["/prosem/layers"])]
    seqs = {int(m.header.stamp.sec) * 1_000_000_000 + int(m.header.stamp.nanosec): int(m.frame_seq) for m in layer_msgs}
    with Graph(pipeline, with_edge=False) as g:
        stats = bag_ros.play(bag_dir, topics=LAYER_TOPICS, wait_subscribers_s=10.0, context=g.ctx, log=lambda _m: None)
        assert stats.published == sum(bags.bag_topics(bag_dir)[t].count for t in LAYER_TOPICS)
        assert wait_for(lambda: g.query(frame_seq=max(seqs.values())).success, 10.0, period_s=0.2)
        replay = _answers(g, seqs)
    assert replay == answers
