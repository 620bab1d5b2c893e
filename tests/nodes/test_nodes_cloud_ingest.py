"""The cloud's wire on its own node and thread (prosem_cloud.ingest_node): named after the cloud, on
the names the cloud resolves (namespace and remaps), and still taking layers in after a callback fails."""
import pytest
import rclpy
from node_harness import Graph, camera_frames
from node_pipelines import real_pipeline
from pipelines import double_pipeline
from rclpy.context import Context
from rclpy.parameter import Parameter
from rosutil import domain_id

pytestmark = pytest.mark.timeout(120)


def test_a_failing_layer_callback_is_counted_and_the_layers_keep_coming():
    frames = camera_frames(2)
    with Graph(real_pipeline()) as g:
        counters = g.cloud.all_counters
        assert g.feed_until(frames, lambda: counters().get("accepted", 0) >= 2), counters()
        real_add, failed = g.cloud.assembler.add, []

        def add_failing_once(*args, **kwargs):
            if not failed:
                failed.append(True)
                raise RuntimeError("injected")
            return real_add(*args, **kwargs)

        g.cloud.assembler.add = add_failing_once
        before = counters()["accepted"]
        assert g.feed_until(frames, lambda: counters().get("errors", 0) == 1 and counters()["accepted"] >= before + 2), counters()
        assert g.cloud.ingest._thread.is_alive()


def test_the_ingest_node_follows_the_clouds_name_namespace_and_remaps():
    from prosem_cloud.cloud_node import CloudNode

    ctx = Context()
    # As `ros2 run prosem_cloud cloud_node --ros-args -r __node:=cloud_a -r __ns:=/site1 -r ...` would.
    rclpy.init(context=ctx, domain_id=domain_id(),
               args=["--ros-args", "-r", "__node:=cloud_a", "-r", "__ns:=/site1",
                     "-r", "/site1/robot1/prosem/layers:=/elsewhere/layers"])
    cloud = None
    try:
        cloud = CloudNode(pipeline=double_pipeline(), context=ctx,
                          parameter_overrides=[Parameter("namespaces", value=["robot1"])])
        assert (cloud.get_name(), cloud.get_namespace()) == ("cloud_a", "/site1")
        assert (cloud.ingest.get_name(), cloud.ingest.get_namespace()) == ("cloud_a_ingest", "/site1")
        subs = {s.topic_name for s in cloud.ingest.subscriptions}
        assert subs == {"/elsewhere/layers", "/site1/robot1/prosem/layers/refine"}
        assert {p.topic_name for p in cloud.ingest.publishers} >= {"/site1/robot1/prosem/feedback"}
        assert not cloud.subscriptions or all("prosem/layers" not in s.topic_name for s in cloud.subscriptions)
    finally:
        if cloud is not None:
            cloud.destroy_node()
        rclpy.shutdown(context=ctx)
