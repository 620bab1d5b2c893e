"""Bad input and faults against live nodes: each gives a clear error, a counter, and the node goes on."""
import time

import pytest
from layer_helpers import small_codec, structured_tokens
from node_harness import Graph, camera_frames, wait_for
from node_pipelines import real_layers, real_pipeline
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy

from prosem_core import auth
from prosem_core.codec import read_header
from prosem_msgs.msg import SemanticLayer
from prosem_ros.msg_convert import from_seconds

pytestmark = pytest.mark.timeout(120)
KEY = "node-test-key"


@pytest.fixture(scope="module")
def pipeline():
    return real_pipeline()


@pytest.fixture(scope="module")
def frames():
    return camera_frames(4)


def _msg(layer: bytes, stream="intruder", seq=None, index=None, key=b"", **fields) -> SemanticLayer:
    """A SemanticLayer for these layer bytes; `fields` then overwrite any field (e.g. payload)."""
    h = read_header(layer)
    payload = layer
    msg = SemanticLayer()
    msg.stream_id, msg.epoch = stream, 9
    msg.frame_seq = h.frame_seq if seq is None else seq
    msg.layer_index = h.layer_index if index is None else index
    msg.layer_count, msg.codebook_id = h.layer_count, h.codebook_id
    msg.token_shape = list(h.token_shape)
    msg.keyframe, msg.fidelity = True, h.fidelity
    msg.payload = payload
    msg.send_stamp = from_seconds(time.time())  # signed layers must be fresh (the cloud's auth_max_skew_s)
    if key:
        ns = msg.send_stamp.sec * 1_000_000_000 + msg.send_stamp.nanosec
        ident = auth.LayerIdentity(stream, 9, msg.frame_seq, msg.layer_index, msg.layer_count, msg.codebook_id, ns)
        msg.auth_tag = auth.sign(key, ident, payload)
    for name, value in fields.items():
        setattr(msg, name, value)
    return msg


def _injector(g: Graph):
    pub = g.client_node.create_publisher(SemanticLayer, "prosem/layers", QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
    assert wait_for(lambda: pub.get_subscription_count() > 0, 5.0)
    return pub


def test_queries_that_cannot_be_answered(pipeline, frames):
    with Graph(pipeline, with_edge=False) as g:
        # A question on an empty cloud.
        resp = g.query()
        assert not resp.success and "no stream" in resp.error
        assert g.cloud.all_counters()["query_errors"] == 1
    with Graph(pipeline, edge={"stream_id": "robot1"}, cloud={"max_frames_per_stream": 3}) as g:
        # Enough frames that frame 0 has left the cloud's window of 3.
        assert g.feed_until(frames, lambda: g.cloud.assembler.streams.get("robot1") and g.cloud.assembler.streams["robot1"].newest_seq >= 4)
        cases = [
            (dict(stream_id="robot9"), "unknown stream 'robot9' (known: 'robot1')"),
            (dict(frame_seq=0), "frame 0 not held for stream 'robot1' (held: "),
            (dict(frame_seq=10**9), "frame 1000000000 not held"),
            (dict(question="   "), "empty question"),
            (dict(min_fidelity=1.5), "min_fidelity"),
            (dict(min_fidelity=float("nan")), "min_fidelity"),
            (dict(timeout_s=-1.0), "timeout_s"),
            (dict(frame_seq=-7), "frame_seq -7"),
        ]
        for fields, text in cases:
            resp = g.query(**fields)
            assert not resp.success and text in resp.error, (fields, resp.error)
        assert g.cloud.all_counters()["query_errors"] == len(cases)
        assert g.query().success  # still serving


def test_two_streams_need_a_stream_id(pipeline, frames):
    with Graph(pipeline, with_edge=False) as g:
        pub = _injector(g)
        for stream in ("r1", "r2"):
            pub.publish(_msg(real_layers(0)[0], stream=stream))
        assert wait_for(lambda: len(g.cloud.assembler.streams) == 2, 5.0)
        resp = g.query()
        assert not resp.success and "several streams" in resp.error
        assert g.query(stream_id="r2").success
        g.cloud.set_parameters([Parameter("default_stream", value="r1")])
        assert g.query().stream_id == "r1"


def test_bad_layers_are_counted_and_the_cloud_goes_on(pipeline):
    with Graph(pipeline, with_edge=False) as g:
        pub = _injector(g)
        good = real_layers(5)
        foreign = small_codec().encode(structured_tokens(1)[0], frame_seq=5)  # another codebook
        flipped = bytearray(good[1])
        flipped[-1] ^= 0xFF
        bad = {
            "malformed": [_msg(good[0], payload=b"\x00" * 100), _msg(good[1], payload=bytes(flipped))],
            "foreign_codebook": [_msg(foreign[0])],
            "inconsistent": [_msg(good[2], seq=6)],
        }
        pub.publish(_msg(good[0]))
        pub.publish(_msg(good[0]))  # duplicate
        for msgs in bad.values():
            for m in msgs:
                pub.publish(m)
        pub.publish(_msg(good[3]))  # reordered: layer 3 before 1 and 2
        pub.publish(_msg(good[1]))
        # truncated: header says more bytes than there are
        pub.publish(_msg(good[2], payload=good[2][:-10]))
        expected = {"malformed": 3, "foreign_codebook": 1, "inconsistent": 1, "duplicate": 1}
        ok = wait_for(lambda: all(g.cloud.all_counters().get(k, 0) >= v for k, v in expected.items())
                      and g.cloud.all_counters().get("accepted", 0) >= 3, 5.0)
        assert ok, g.cloud.all_counters()
        frame = g.cloud.assembler.streams["intruder"].frames[5]
        assert frame.prefix == 2 and frame.received_mask == 0b1011
        resp = g.query(stream_id="intruder")
        assert resp.success and resp.layers_used == 2


def test_authentication_rejects_unsigned_and_forged(pipeline, frames, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    with Graph(pipeline, edge={"stream_id": "robot1", "auth_key_file": str(key_file)}, cloud={"auth_key": KEY}) as g:
        assert g.feed_until(frames, lambda: "robot1" in g.cloud.assembler.streams)  # signed layers pass
        assert g.query(stream_id="robot1").success
        pub = _injector(g)
        layers = real_layers(1)
        pub.publish(_msg(layers[0]))  # unsigned
        pub.publish(_msg(layers[0], key=b"not-the-key"))  # forged
        wait_for(lambda: g.cloud.all_counters().get("forged", 0) >= 1, 5.0)
        counters = g.cloud.all_counters()
        assert counters["unauthenticated"] == 1 and counters["forged"] == 1
        assert "intruder" not in g.cloud.assembler.streams
        pub.publish(_msg(layers[0], key=KEY.encode()))
        assert wait_for(lambda: "intruder" in g.cloud.assembler.streams, 5.0)


def test_stream_that_stops(pipeline, frames):
    with Graph(pipeline, edge={"stream_id": "robot1"}, cloud={"stream_stale_s": 0.5}) as g:
        assert g.feed_until(frames, lambda: "robot1" in g.cloud.assembler.streams)
        g.stop_edge()
        time.sleep(0.8)
        resp = g.query()
        assert not resp.success and "stale" in resp.error
        held = max(g.cloud.assembler.streams["robot1"].frames)
        resp = g.query(frame_seq=held)
        assert resp.success and resp.frame_seq == held  # asked explicitly: answered


def test_bad_parameter_values_rejected_with_reason(pipeline):
    with Graph(pipeline) as g:
        for node, name, value, text in [
            (g.edge, "max_encode_rate_hz", 0.0, "range"),
            (g.edge, "max_encode_rate_hz", 1000.0, "range"),
            (g.edge, "jpeg_quality", 0, "range"),
            (g.edge, "mode", "full_cloud", "read"),
            (g.edge, "rate_control", 3, "type"),
            (g.cloud, "pull_retry_s", -1.0, "range"),
            (g.cloud, "max_streams", 5, "read"),
        ]:
            result = node.set_parameters([Parameter(name, value=value)])[0]
            assert not result.successful and text in result.reason.lower(), (name, value, result.reason)
        assert g.edge.get_parameter("max_encode_rate_hz").value == 5.0
        assert g.edge.set_parameters([Parameter("max_encode_rate_hz", value=2.0)])[0].successful
        assert g.edge.session.controller.cfg.max_frame_rate_hz == 2.0  # applied live
        crossed = [Parameter("min_rate_bps", value=1e8), Parameter("max_rate_bps", value=1e6)]
        result = g.edge.set_parameters_atomically(crossed)
        assert not result.successful and "min_rate_bps" in result.reason
        assert g.edge.all_counters()["param_rejected"] >= 1


def test_bad_start_parameters_fail_loudly(pipeline):
    from prosem_cloud.cloud_node import CloudNode
    from prosem_edge.edge_node import EdgeNode
    from prosem_ros.spin import StartupError

    with Graph(pipeline, with_edge=False, with_cloud=False) as g:
        for bad in ({"mode": "teleport"}, {"max_encode_rate_hz": -3.0}, {"min_rate_bps": 5e6, "max_rate_bps": 1e6}):
            with pytest.raises(StartupError) as info:
                EdgeNode(pipeline=pipeline, context=g.ctx, parameter_overrides=[Parameter(k, value=v) for k, v in bad.items()])
            assert any(word in str(info.value) for word in ("teleport", "max_encode_rate_hz", "min_rate_bps"))
        with pytest.raises(StartupError, match="cannot read auth key"):
            EdgeNode(pipeline=pipeline, context=g.ctx, parameter_overrides=[Parameter("auth_key_file", value="/nonexistent/key")])
        # A parameter the node does not know is refused at start, by name (a typo must not be ignored).
        for cls in (EdgeNode, CloudNode):
            with pytest.raises(StartupError, match="unknown parameter.*max_encode_rat_hz"):
                cls(pipeline=pipeline, context=g.ctx, parameter_overrides=[Parameter("max_encode_rat_hz", value=2.0)])


def test_bad_camera_frames_are_dropped(pipeline, frames):
    from sensor_msgs.msg import Image

    with Graph(pipeline, edge={"stream_id": "robot1"}) as g:
        bad = Image(height=4, width=4, encoding="yuv422", step=8, data=b"\x00" * 32)
        g.camera.publish(bad)
        assert wait_for(lambda: g.edge.all_counters().get("bad_images", 0) == 1, 5.0)
        assert g.feed_until(frames, lambda: "robot1" in g.cloud.assembler.streams)


def test_handoff_drops_to_latest_never_queues(pipeline, frames):
    # The worker takes at most 2 frames a second; ~40 frames offered in 2 s must mostly be dropped.
    with Graph(pipeline, edge={"stream_id": "robot1", "max_encode_rate_hz": 2.0}) as g:
        g.stream_frames(frames, hz=20.0, seconds=2.0)
        time.sleep(0.1)
        c = g.edge.all_counters()
        assert c["frames_in"] >= 20
        assert c["frames_encoded"] <= 6  # 2 s at 2 fps, plus the first one
        # Every frame not encoded was dropped, either replaced in the slot or skipped by the rate cap.
        dropped = c["frames_dropped_handoff"] + c.get("frames_skipped_rate_cap", 0)
        assert dropped >= c["frames_in"] - c["frames_encoded"] - 2
        # Nothing queued behind: once the camera stops, at most the one frame in the slot is left.
        time.sleep(1.5)
        assert g.edge.all_counters()["frames_encoded"] <= c["frames_encoded"] + 1
