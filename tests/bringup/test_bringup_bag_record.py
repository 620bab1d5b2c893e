"""`prosem bag record` records what rosbag2 records, checked with readers this project did not write:

- every message decodes with Foxglove's `mcap` + `mcap-ros2-support` reader, field for field;
- the .mcap channel metadata holds every publisher's offered QoS (lifespan, deadline, liveliness,
  lease included) and the publishers' RIHS01 `topic_type_hash`, as rclpy's graph reports them;
- publish_time is the publisher's send time (between the clock before and after `publish()`),
  log_time the receive time; metadata.yaml names the running distro;
and `prosem bag play` republishes a topic with the recorded QoS (a layer keeps its lifespan).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from prosem_core import bags

pytestmark = pytest.mark.timeout(120)
VENV = Path(sys.prefix)


@pytest.fixture
def ros_context():
    import rclpy
    from rclpy.context import Context

    ctx = Context()
    rclpy.init(args=[], context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


def _qos(**kw):
    from rclpy.duration import Duration
    from rclpy.qos import LivelinessPolicy, QoSProfile, ReliabilityPolicy

    profile = QoSProfile(depth=kw.get("depth", 10))
    if kw.get("best_effort"):
        profile.reliability = ReliabilityPolicy.BEST_EFFORT
    for name in ("lifespan", "deadline", "liveliness_lease_duration"):
        if name in kw:
            setattr(profile, name, Duration(seconds=kw[name]))
    if kw.get("manual"):
        profile.liveliness = LivelinessPolicy.MANUAL_BY_TOPIC
    return profile


def _wait(predicate, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_record_matches_rosbag2_and_decodes_with_foxglove(tmp_path, ros_context):
    import rclpy
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from prosem_msgs.msg import LayerFeedback, SemanticLayer

    node = rclpy.create_node("record_check", context=ros_context)
    pubs = {
        "/rec/chatter": node.create_publisher(String, "/rec/chatter", _qos()),
        "/rec/layers": node.create_publisher(SemanticLayer, "/rec/layers",
                                             _qos(best_effort=True, depth=16, lifespan=2.0, deadline=1.0,
                                                  manual=True, liveliness_lease_duration=3.0)),
        "/rec/image": node.create_publisher(Image, "/rec/image", _qos(best_effort=True, depth=1)),
        "/rec/feedback": node.create_publisher(LayerFeedback, "/rec/feedback", _qos(best_effort=True, depth=32)),
    }
    second_chatter = node.create_publisher(String, "/rec/chatter", _qos(best_effort=True, lifespan=0.25))
    env = {k: v for k, v in os.environ.items() if k != "ROS_DISTRO"}  # the distro comes from the rclpy wheel
    rec = subprocess.Popen([str(VENV / "bin" / "prosem"), "bag", "record", "-o", str(tmp_path / "bag"), *pubs],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sent: dict[str, list] = {t: [] for t in pubs}
    try:
        assert _wait(lambda: all(p.get_subscription_count() for p in pubs.values())
                     and second_chatter.get_subscription_count(), 20), "the recorder did not subscribe"
        for i in range(12):
            msgs = {
                "/rec/chatter": String(data=f"hello {i}"),
                "/rec/layers": SemanticLayer(stream_id="robot1", frame_seq=i, layer_index=i % 4, layer_count=4,
                                             token_shape=[49, 1280], fidelity=0.25 * (i % 4), payload=bytes([i]) * (20 + i)),
                "/rec/image": Image(height=2, width=3, encoding="rgb8", step=9, data=bytes(range(i, i + 18))),
                "/rec/feedback": LayerFeedback(stream_id="robot1", frame_seq=i, received_mask=i, reason=f"r{i}"),
            }
            for topic, msg in msgs.items():
                before = time.time_ns()
                pubs[topic].publish(msg)
                sent[topic].append((msg, before, time.time_ns()))
            time.sleep(0.03)
        time.sleep(1.0)
        rec.send_signal(signal.SIGINT)
        out, _ = rec.communicate(timeout=30)
    finally:
        if rec.poll() is None:
            rec.kill()
    assert rec.returncode == 0, out
    endpoint_hash = {t: str(node.get_publishers_info_by_topic(t)[0].topic_type_hash) for t in pubs}
    node.destroy_node()

    mcap_file = tmp_path / "bag" / "bag_0.mcap"
    with open(mcap_file, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        summary = reader.get_summary()
        decoded: dict[str, list] = {t: [] for t in pubs}
        for _schema, channel, message, obj in reader.iter_decoded_messages():
            decoded[channel.topic].append((message, obj))
    # Every message decodes, field for field, and nothing was lost on this quiet localhost.
    assert {t: len(v) for t, v in decoded.items()} == {t: 12 for t in pubs}
    for (msg, _, _), (_, obj) in zip(sent["/rec/chatter"], decoded["/rec/chatter"]):
        assert obj.data == msg.data
    for (msg, _, _), (_, obj) in zip(sent["/rec/layers"], decoded["/rec/layers"]):
        assert (obj.frame_seq, obj.layer_index, bytes(obj.payload), list(obj.token_shape)) == (
            msg.frame_seq, msg.layer_index, bytes(msg.payload), [49, 1280])
    for (msg, _, _), (_, obj) in zip(sent["/rec/image"], decoded["/rec/image"]):
        assert bytes(obj.data) == bytes(msg.data) and obj.encoding == "rgb8"
    for (msg, _, _), (_, obj) in zip(sent["/rec/feedback"], decoded["/rec/feedback"]):
        assert (obj.frame_seq, obj.received_mask, obj.reason) == (msg.frame_seq, msg.received_mask, msg.reason)
    # publish_time: the publisher's send time; log_time: when the recorder got it.
    for topic in pubs:
        for (_, before, after), (message, _) in zip(sent[topic], decoded[topic]):
            assert before <= message.publish_time <= after, topic
            assert message.log_time >= message.publish_time
        # Two clocks, two times: delivery to another process takes a while.
        assert all(m.log_time > m.publish_time for m, _ in decoded[topic]), topic
    # Channel metadata: the publishers' type hash and every publisher's full offered QoS.
    channels = {c.topic: c for c in summary.channels.values()}
    for topic in pubs:
        assert channels[topic].metadata["topic_type_hash"] == endpoint_hash[topic]
        assert endpoint_hash[topic] == bags.type_hash(summary.schemas[channels[topic].schema_id].name)
    layer_qos = yaml.safe_load(channels["/rec/layers"].metadata["offered_qos_profiles"])
    assert layer_qos == [{
        "history": "unknown", "depth": 0, "reliability": "best_effort", "durability": "volatile",
        "deadline": {"sec": 1, "nsec": 0}, "lifespan": {"sec": 2, "nsec": 0}, "liveliness": "manual_by_topic",
        "liveliness_lease_duration": {"sec": 3, "nsec": 0}, "avoid_ros_namespace_conventions": False}]
    chatter_qos = yaml.safe_load(channels["/rec/chatter"].metadata["offered_qos_profiles"])
    assert sorted((q["reliability"], q["lifespan"]["sec"], q["lifespan"]["nsec"]) for q in chatter_qos) == [
        ("best_effort", 0, 250_000_000), ("reliable", 9223372036, 854775807)]  # two publishers; infinite as rmw writes it
    meta = yaml.safe_load((tmp_path / "bag" / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["ros_distro"] == "kilted"
    hashes = {t["topic_metadata"]["name"]: t["topic_metadata"]["type_description_hash"] for t in meta["topics_with_message_count"]}
    assert hashes == endpoint_hash
    # rosbags (another independent reader) agrees on the counts.
    from rosbags.rosbag2 import Reader

    with Reader(tmp_path / "bag") as r:
        assert sum(1 for _ in r.messages()) == 48


def test_ros_distro_is_the_running_one(monkeypatch):
    from prosem_ros.bag_ros import ros_distro

    monkeypatch.setenv("ROS_DISTRO", "jazzy")
    assert ros_distro() == "jazzy"
    monkeypatch.delenv("ROS_DISTRO")
    assert ros_distro() == "kilted"  # this venv runs the ros-kilted-rclpy wheel


def test_replay_publishes_with_the_recorded_qos(tmp_path, ros_context):
    """A replayed layer expires like the live one: the player offers the recorded lifespan, deadline
    and liveliness (checked on the graph, as a subscriber sees the player's publisher)."""
    import rclpy
    from rclpy.qos import LivelinessPolicy, ReliabilityPolicy

    from prosem_ros import bag_ros

    recorded = bags.OfferedQos(history="unknown", depth=0, reliability="best_effort", lifespan_ns=2_000_000_000,
                               deadline_ns=1_000_000_000, liveliness="manual_by_topic",
                               liveliness_lease_ns=3_000_000_000)
    String = bags.message_class("std_msgs/msg/String")
    with bags.BagWriter(tmp_path / "bag") as bag:
        bag.add_topic("/q/layers", "std_msgs/msg/String", [recorded])
        for i in range(30):
            bag.write("/q/layers", 1_000_000_000 + i * 100_000_000, bags.serialize(String(data=str(i)), "std_msgs/msg/String"))
    node = rclpy.create_node("qos_probe", context=ros_context)
    stop = threading.Event()
    result = {}
    player = threading.Thread(target=lambda: result.update(stats=bag_ros.play(
        tmp_path / "bag", remap={"/q/layers": "/q/replayed"}, wait_subscribers_s=0.0, wait_acked_s=0.0,
        stop=stop, context=ros_context, log=lambda _m: None)))
    player.start()
    try:
        assert _wait(lambda: node.get_publishers_info_by_topic("/q/replayed"), 10)
        (info,) = node.get_publishers_info_by_topic("/q/replayed")
    finally:
        stop.set()
        player.join(10)
        node.destroy_node()
    q = info.qos_profile
    assert q.lifespan.nanoseconds == 2_000_000_000 and q.deadline.nanoseconds == 1_000_000_000
    assert q.reliability == ReliabilityPolicy.BEST_EFFORT and q.liveliness == LivelinessPolicy.MANUAL_BY_TOPIC
    assert q.liveliness_lease_duration.nanoseconds == 3_000_000_000
    assert result["stats"].interrupted and result["stats"].shortfall == ""  # stopped by us: no complaint
