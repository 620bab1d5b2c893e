"""Bags of a live edge/cloud run: record the camera and the layers, then
1. replay the camera into a fresh edge + cloud and get the same answers,
2. replay the layers straight into a fresh cloud node (no edge) and get the same answers,
3. cut the recording (`prosem bag record` as a process) as a crash would and recover its messages,
   and kill a recorder mid-run and read what it left (no metadata.yaml, no summary).

In-process nodes (private context, random domain) with the deterministic test pipeline, so equal
inputs must give equal answers; the edge pushes every layer (rate_control off) so what a frame
holds does not depend on timing."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
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


# ---------------------------------------------------------------------------------------------
# A live run recorded by `prosem bag record` (a process), cut and killed as crashes do.
# ---------------------------------------------------------------------------------------------
PROSEM = str(Path(sys.prefix) / "bin" / "prosem")


def _start_recorder(out: Path) -> subprocess.Popen:
    env = {**os.environ, "AMENT_PREFIX_PATH": os.environ.get("AMENT_PREFIX_PATH", sys.prefix)}
    return subprocess.Popen([PROSEM, "bag", "record", "-o", str(out), "--all"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _file_order_messages(path: Path) -> list[tuple[int, bytes]]:
    """(log time, bytes) of every message in file order, by Foxglove's reader (independent of prosem_core)."""
    from mcap.reader import NonSeekingReader

    with open(path, "rb") as f:
        return [(m.log_time, m.data) for _, _, m in NonSeekingReader(f).iter_messages(log_time_order=False)]


def _count_layers(g: Graph) -> list[int]:
    """A reliable reader of prosem/layers beside the recorder: how many base layers the edge published."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from prosem_msgs.msg import SemanticLayer

    got: list[int] = []
    g.client_node.create_subscription(SemanticLayer, "prosem/layers", lambda m: got.append(int(m.frame_seq)),
                                      QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
    return got


def test_cut_and_killed_live_recordings_recover_their_messages(pipeline, tmp_path):
    from bag_forms import records_before

    frames = camera_frames(4, size=(120, 160))
    # Reliable base layers: the recorder takes the publisher's QoS, so it must then miss nothing. How
    # many frames the edge encodes depends on the machine's load (its depth-1 hand-off and rate cap drop
    # frames by design); what the recorder must hold is every layer the edge did publish.
    reliable = {"base_reliability": "reliable"}
    with Graph(pipeline, edge={**EDGE, **reliable}, cloud=reliable) as g:
        sent_layers = _count_layers(g)
        # 1. A clean recording of 25 frames, then cut at 50/75/90 % of its bytes.
        rec = _start_recorder(tmp_path / "clean")
        try:
            assert wait_for(lambda: g.camera.get_subscription_count() >= 2 and g.edge.transport.base_pub.get_subscription_count() >= 3,
                            20.0), "recorder did not subscribe"
            time.sleep(1.0)  # the recorder polls the graph every 0.2 s: let it see every topic
            for i in range(25):
                g.publish(frames[i % len(frames)])
                time.sleep(0.2)
            time.sleep(1.0)
            layers_sent = len(sent_layers)
            rec.send_signal(signal.SIGINT)
            out, _ = rec.communicate(timeout=30)
        finally:
            if rec.poll() is None:
                rec.kill()
        assert rec.returncode == 0, out

        # 2. A recorder killed (SIGKILL: no summary, no metadata.yaml) while the camera still runs.
        killed = _start_recorder(tmp_path / "killed")
        published: list[int] = []  # header stamps of the frames sent
        try:
            assert wait_for(lambda: g.camera.get_subscription_count() >= 2, 20.0)
            time.sleep(1.0)
            for i in range(30):
                g.publish(frames[i % len(frames)])
                published.append(time.time_ns())
                time.sleep(0.1)
            killed_at = time.time_ns()
            killed.kill()
            killed.wait(10)
        finally:
            if killed.poll() is None:
                killed.kill()

    clean = tmp_path / "clean" / "clean_0.mcap"
    with bags.Bag(tmp_path / "clean") as bag:
        total = bag.message_count
        per_topic = {t: b.count for t, b in bag.topics.items() if b.count}
    assert per_topic[CAMERA] == 25
    assert layers_sent >= 10, f"the edge published base layers of only {layers_sent} of 25 frames"
    assert per_topic["/prosem/layers"] == layers_sent, f"recorded {per_topic['/prosem/layers']} of {layers_sent} base layers"
    in_file = _file_order_messages(clean)
    payloads = [data for _, data in in_file]
    assert len(payloads) == total
    data = clean.read_bytes()
    report = [f"live recording: {total} messages {per_topic}, {len(data)} bytes"]
    for fraction in (0.5, 0.75, 0.9):
        cut_dir = tmp_path / f"cut{int(fraction * 100)}"
        shutil.copytree(tmp_path / "clean", cut_dir)
        cut = int(len(data) * fraction)
        (cut_dir / "clean_0.mcap").write_bytes(data[:cut])
        with bags.Bag(cut_dir) as bag:
            recovered = [m.data for m in bag.messages()]
            notes = bag.notes
        expected = records_before(data, payloads, cut)
        # Exactly the messages wholly before the cut, in log-time order (receive times of different
        # topics can interleave out of file order).
        assert recovered == [d for _, d in sorted(in_file[:expected], key=lambda m: m[0])], notes
        report.append(f"cut at {fraction:.0%}: recovered {len(recovered)} of {total} ({notes[0]})")
        if fraction >= 0.75:
            assert len(recovered) > total / 2, "most of the recording comes back"

    assert not (tmp_path / "killed" / "metadata.yaml").exists()
    with bags.Bag(tmp_path / "killed") as bag:
        assert bag.recovered
        stamps = [int(o.header.stamp.sec) * 1_000_000_000 + int(o.header.stamp.nanosec)
                  for o in (bags.deserialize(m.data, "sensor_msgs/msg/Image") for m in bag.messages([CAMERA]))]
        killed_counts = {t: b.count for t, b in bag.topics.items() if b.count}
        notes = bag.notes
    # Everything sent more than the writer's chunk age (1 s) plus a margin before the kill is on disk.
    settled = [t for t in published if t < killed_at - 1_600_000_000]
    assert stamps == sorted(stamps) and len(stamps) <= len(published)
    assert len(stamps) >= len(settled), f"{len(stamps)} frames recovered, {len(settled)} were sent > 1.6 s before the kill"
    report.append(f"recorder killed mid-run: recovered {killed_counts} ({len(published)} frames sent, "
                  f"{len(settled)} of them > 1.6 s before the kill); {notes}")
    print("\n".join(report))
