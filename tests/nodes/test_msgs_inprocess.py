"""prosem_msgs in a live rclpy graph (one process, private context): pub/sub and service round trip."""
import hashlib

import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from rosutil import make_executor, private_context, spin_until  # noqa: E402

from prosem_msgs.action import Query as QueryAction  # noqa: E402
from prosem_msgs.msg import LayerFeedback, LinkState, SemanticLayer  # noqa: E402
from prosem_msgs.srv import Query  # noqa: E402


def _layer(i: int) -> SemanticLayer:
    msg = SemanticLayer()
    msg.header.frame_id = "camera_optical"
    msg.header.stamp.sec = 100 + i
    msg.stream_id = "robot1"
    msg.frame_seq = 2**40 + i  # uint64 beyond 32 bits survives
    msg.epoch = 0xDEADBEEF
    msg.layer_index = i
    msg.layer_count = 4
    msg.codec_id = "prosem-mae/1"
    msg.codebook_id = "0123456789abcdef"
    msg.token_shape = [49, 1280]
    msg.keyframe = i == 0
    msg.fidelity = 0.5 + 0.1 * i
    msg.payload = bytes(range(256)) * (i + 1)
    msg.auth_tag = hashlib.sha256(bytes(msg.payload)).digest()
    return msg


def test_semantic_layer_pub_sub_roundtrip():
    with private_context() as ctx:
        pub_node = rclpy.create_node("layer_pub", context=ctx)
        sub_node = rclpy.create_node("layer_sub", context=ctx)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        got = []
        sub_node.create_subscription(SemanticLayer, "prosem/layers", got.append, qos)
        pub = pub_node.create_publisher(SemanticLayer, "prosem/layers", qos)
        ex = make_executor(ctx, pub_node, sub_node)
        assert spin_until(ex, lambda: pub.get_subscription_count() > 0, 5.0)
        sent = [_layer(i) for i in range(4)]
        for m in sent:
            pub.publish(m)
        assert spin_until(ex, lambda: len(got) == 4, 5.0), f"received {len(got)} of 4"
        for a, b in zip(sent, got):
            assert bytes(b.payload) == bytes(a.payload)
            assert bytes(b.auth_tag) == bytes(a.auth_tag)
            assert (b.frame_seq, b.layer_index, b.layer_count, b.epoch) == (a.frame_seq, a.layer_index, a.layer_count, a.epoch)
            assert list(b.token_shape) == [49, 1280]
            assert b.codebook_id == a.codebook_id and b.keyframe == a.keyframe
            assert b.header.frame_id == "camera_optical"
            assert b.fidelity == pytest.approx(a.fidelity)
        ex.shutdown()
        pub_node.destroy_node()
        sub_node.destroy_node()


def test_feedback_and_link_state_construct():
    fb = LayerFeedback(stream_id="r", frame_seq=3, received_mask=0b1011, prefix_layers=2, pull_layers=4, request_keyframe=True)
    assert fb.prefix_layers == 2 and fb.pull_layers == 4
    ls = LinkState(stream_id="r", bandwidth_bps=1e6, layers_per_frame=2, mode="progressive")
    assert ls.mode == "progressive"


def test_query_service_roundtrip():
    with private_context() as ctx:
        server = rclpy.create_node("query_server", context=ctx)
        client_node = rclpy.create_node("query_client", context=ctx)

        def handle(req, resp):
            resp.success = bool(req.question)
            resp.error = "" if req.question else "empty question"
            resp.answer = req.question.upper()
            resp.frame_seq = req.frame_seq
            resp.stream_id = req.stream_id or "default"
            resp.fidelity = req.min_fidelity
            resp.layers_used = 3
            resp.bytes_used = 1234
            return resp

        server.create_service(Query, "prosem/query", handle)
        client = client_node.create_client(Query, "prosem/query")
        ex = make_executor(ctx, server, client_node)
        assert spin_until(ex, client.service_is_ready, 5.0)
        for question, seq in (("what shape?", -1), ("", 7)):
            fut = client.call_async(Query.Request(question=question, frame_seq=seq, min_fidelity=0.9, timeout_s=1.0))
            assert spin_until(ex, fut.done, 5.0)
            resp = fut.result()
            assert resp.success == bool(question)
            assert resp.answer == question.upper()
            assert resp.frame_seq == seq and resp.stream_id == "default"
            assert resp.fidelity == pytest.approx(0.9) and resp.layers_used == 3 and resp.bytes_used == 1234
        ex.shutdown()
        server.destroy_node()
        client_node.destroy_node()


def test_query_action_types_have_goal_result_feedback():
    goal = QueryAction.Goal(question="q", frame_seq=-1, min_fidelity=0.5, timeout_s=2.0)
    result = QueryAction.Result(success=True, answer="a", layers_used=2)
    fb = QueryAction.Feedback(answer="a", layers_used=1, fidelity=0.7)
    assert goal.frame_seq == -1 and result.layers_used == 2 and fb.layers_used == 1
