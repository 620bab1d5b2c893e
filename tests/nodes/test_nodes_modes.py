"""Baseline modes (full_cloud, full_edge) and several robots in namespaces, in one process."""
import pytest
from node_harness import Graph, camera_frames, overrides, wait_for
from node_pipelines import real_pipeline
from sensor_msgs.msg import Image

from prosem_core import images

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def pipeline():
    return real_pipeline()


@pytest.fixture(scope="module")
def frames():
    return camera_frames(4)


def test_full_cloud_sends_jpeg_and_cloud_encodes(pipeline, frames):
    with Graph(pipeline, edge={"mode": "full_cloud", "stream_id": "robot1", "jpeg_quality": 75},
               cloud={"mode": "full_cloud"}) as g:
        assert g.feed_until(frames, lambda: g.cloud.all_counters().get("jpeg_frames_encoded", 0) >= 2)
        resp = g.query()
        assert resp.success, resp.error
        assert resp.stream_id == "robot1" and resp.layers_used == pipeline.codec.layer_count  # the cloud holds all
        assert g.edge.all_counters()["bytes_sent"] > 10_000  # JPEGs of 640x480 photos, not layers
        assert wait_for(lambda: g.edge.link_state is not None and g.edge.link_state.rtt_s == g.edge.link_state.rtt_s, 5.0)
        assert g.edge.link_state.mode == "full_cloud"


def test_full_edge_cloud_relays_to_the_edge(pipeline, frames):
    with Graph(pipeline, edge={"mode": "full_edge"}, cloud={"mode": "full_edge"}) as g:
        assert g.feed_until(frames, lambda: g.edge.all_counters().get("frames_encoded", 0) >= 1)
        resp = g.query()
        assert resp.success, resp.error
        assert resp.stream_id == "robot0" and resp.fidelity == 1.0 and resp.answer in pipeline.answerer.head.answers
        assert g.edge.all_counters().get("layers_sent", 0) == 0  # nothing but the answer crossed
        bad = g.query(frame_seq=10**6)
        assert not bad.success and "not held" in bad.error
        unknown = g.query(stream_id="nobody")
        assert not unknown.success and "unknown stream" in unknown.error


def test_full_edge_without_edge_says_so(pipeline):
    with Graph(pipeline, with_edge=False, cloud={"mode": "full_edge"}) as g:
        resp = g.query()
        assert not resp.success and "not available" in resp.error


def test_one_cloud_many_robots_in_namespaces(pipeline, frames):
    from prosem_edge.edge_node import EdgeNode

    with Graph(pipeline, with_edge=False, cloud={"namespaces": ["robot1", "robot2"]}) as g:
        edges, cams = [], []
        for ns in ("robot1", "robot2"):
            edge = EdgeNode(pipeline=pipeline, context=g.ctx, namespace=ns,
                            parameter_overrides=overrides({"max_layers_per_frame": 1})).start()
            g.executor.add_node(edge)
            edges.append(edge)
            cams.append(g.client_node.create_publisher(Image, f"{ns}/camera/image_raw", 10))
        try:
            assert all(e.ready.wait(30) for e in edges)
            assert [e.stream_id for e in edges] == ["robot1", "robot2"]  # from the namespaces

            def both_streaming():
                for i, cam in enumerate(cams):
                    cam.publish(images.fill_image_msg(Image(), frames[i], "rgb8"))
                return {"robot1", "robot2"} <= set(g.cloud.assembler.streams)

            assert wait_for(both_streaming, 20.0, period_s=0.2)
            for ns, edge in zip(("robot1", "robot2"), edges):
                resp = g.query(stream_id=ns, min_fidelity=1.0, timeout_s=5.0)  # everything: pulls needed
                assert resp.success and resp.layers_used == pipeline.codec.layer_count, resp.error
                # The pull went to this robot's edge only.
                assert edge.all_counters().get("layers_pulled", 0) >= 1
            assert g.cloud.stream_ns == {"robot1": "robot1", "robot2": "robot2"}
        finally:
            for edge in edges:
                g.executor.remove_node(edge)
                edge.destroy_node()


def test_compressed_camera_input(pipeline, frames):
    from sensor_msgs.msg import CompressedImage

    with Graph(pipeline, edge={"stream_id": "robot1", "compressed_input": True}) as g:
        cam = g.client_node.create_publisher(CompressedImage, "camera/image_raw/compressed", 10)
        msg = images.fill_compressed_msg(CompressedImage(), frames[0], quality=90)

        def streaming():
            cam.publish(msg)
            return "robot1" in g.cloud.assembler.streams

        assert wait_for(streaming, 20.0, period_s=0.2)
        assert g.query().success
        assert g.edge.all_counters().get("bad_images", 0) == 0


def test_reliable_base_layers(pipeline, frames):
    from node_pipelines import real_layers

    from prosem_core.codec import read_header

    fids = [read_header(x).fidelity for x in real_layers(0, 0)]
    with Graph(pipeline, edge={"stream_id": "robot1", "base_reliability": "reliable", "max_layers_per_frame": 1},
               cloud={"base_reliability": "reliable"}) as g:
        assert g.feed_until(frames[:1], lambda: "robot1" in g.cloud.assembler.streams)
        assert wait_for(lambda: g.edge.link_state is not None, 5.0)
        assert g.edge.link_state.base_qos.startswith("reliable")
        resp = g.query(min_fidelity=(fids[1] + fids[2]) / 2, timeout_s=5.0)  # pulled layers, reliable too
        assert resp.success and resp.fidelity_reached and resp.layers_used >= 3, resp.error


def test_mismatched_base_reliability_is_reported(pipeline, frames):
    # A reliable reader does not match a best-effort writer: the edge counts and logs the QoS event.
    with Graph(pipeline, edge={"stream_id": "robot1"}, cloud={"base_reliability": "reliable"}) as g:
        assert g.feed_until(frames, lambda: g.edge.all_counters().get("qos_incompatible", 0) >= 1, timeout_s=10.0)
        stream = g.cloud.assembler.streams.get("robot1")  # refinements (best effort both ends) may arrive
        assert stream is None or stream.latest_decodable() is None  # but no base layer ever does
        assert not g.query().success
