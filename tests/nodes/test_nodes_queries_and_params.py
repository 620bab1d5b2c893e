"""Queries never take the threads ingest needs; a full query pool says `busy`; error codes match the
messages; every parameter is readable the way `ros2 param dump` reads it."""
from __future__ import annotations

import concurrent.futures
import time

import pytest
from node_harness import Graph, camera_frames, wait_for
from node_pipelines import real_layers, real_pipeline
from rcl_interfaces.srv import GetParameters, ListParameters

from prosem_core.codec import read_header
from prosem_core.query_types import ErrorCode
from prosem_msgs.srv import Query

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def pipeline():
    return real_pipeline()


@pytest.fixture(scope="module")
def frames():
    return camera_frames(1)


def test_error_codes_are_the_message_constants():
    for code in ErrorCode:
        assert getattr(Query.Response, f"ERROR_{code.name}") == code.value


def test_more_waiting_queries_than_query_threads_do_not_starve_ingest(pipeline, frames):
    """N = 3 query threads, N + 1 users ask at a fidelity only pulled layers reach, one more asks a
    quick question. The executor is sized the way cloud_node sizes it (num_threads 2 + max_pending 5,
    plus 2 for the edge and the test client sharing it here): waiting queries hold their own threads
    while the ingest thread (prosem_cloud.ingest_node) delivers what they pulled, so all are answered
    at that fidelity, and the quick question is answered meanwhile."""
    target = read_header(real_layers(0, 0)[2]).fidelity  # the edge pushes 1 layer; 3 are needed
    cloud = {"query_threads": 3, "max_pending_queries": 5, "num_threads": 2}
    with Graph(pipeline, edge={"stream_id": "robot1", "max_layers_per_frame": 1}, cloud=cloud, threads=2 + 5 + 2) as g:
        assert g.cloud.executor_threads() == 7
        assert g.feed_until(frames, lambda: "robot1" in g.cloud.assembler.streams)
        with g.camera_running(frames), concurrent.futures.ThreadPoolExecutor(4) as pool:
            accepted_before = g.cloud.all_counters()["accepted"]
            waiting = [pool.submit(g.query, min_fidelity=target, timeout_s=8.0) for _ in range(4)]  # N + 1
            time.sleep(0.2)
            t0 = time.monotonic()
            quick = g.query(min_fidelity=0.0, timeout_s=1.0)
            quick_s = time.monotonic() - t0
            results = [f.result(timeout=60) for f in waiting]
        assert quick.success and quick_s < 2.0, (quick.error, quick_s)
        for r in results:
            assert r.success and r.fidelity_reached and r.layers_used >= 3, r.error
            assert r.latency_s < 4.0, r.latency_s  # layers arrived: nowhere near the 8 s timeout
        assert g.cloud.all_counters()["accepted"] >= accepted_before + 2  # the pulled layers came in through ingest


def test_a_full_query_pool_answers_busy_at_once(pipeline, frames):
    with Graph(pipeline, edge={"stream_id": "robot1", "max_layers_per_frame": 1},
               cloud={"query_threads": 1, "max_pending_queries": 1}) as g:
        assert g.feed_until(frames, lambda: "robot1" in g.cloud.assembler.streams)
        g.stop_edge()  # nobody answers pulls any more: a high-fidelity query waits out its timeout
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            first = pool.submit(g.query, min_fidelity=1.0, timeout_s=2.0)
            assert wait_for(lambda: g.cloud.admission.admitted == 1, 5.0)
            t0 = time.monotonic()
            busy = g.query(min_fidelity=0.0)
            assert not busy.success and busy.error_code == Query.Response.ERROR_BUSY and "busy" in busy.error
            assert time.monotonic() - t0 < 1.0
            slow = first.result(timeout=30)
            assert slow.success and not slow.fidelity_reached and slow.layers_used == 1
        assert g.cloud.all_counters()["queries_busy"] == 1
        assert g.query(min_fidelity=0.0).success  # the slot is free again


def test_a_request_naming_only_its_question_asks_about_the_latest_frame(pipeline, frames):
    """`ros2 service call /prosem/query prosem_msgs/srv/Query "{question: ...}"` leaves every other
    field at its message default: frame_seq must then mean the latest frame, not frame 0."""
    assert Query.Request().frame_seq == -1
    with Graph(pipeline, edge={"stream_id": "robot1"}) as g:
        assert g.feed_until(frames, lambda: g.query().success)
        assert g.feed_until(frames, lambda: g.cloud.assembler.streams["robot1"].newest_seq > 0)
        assert g.query_client.wait_for_service(timeout_sec=10.0)
        future = g.query_client.call_async(Query.Request(question="what is in the image?"))
        assert wait_for(future.done, 30.0)
        r = future.result()
        assert r.success and r.frame_seq > 0 and r.stream_id == "robot1", r.error


@pytest.mark.parametrize("which", ["edge", "cloud"])
def test_every_parameter_is_dumpable(pipeline, which):
    """What `ros2 param dump` does: list every name, then get them all in ONE request. rclpy answers
    nothing at all when any requested parameter is uninitialised (an empty-list default)."""
    with Graph(pipeline) as g:
        node = getattr(g, which)
        fqn = node.get_fully_qualified_name()
        list_client = g.client_node.create_client(ListParameters, f"{fqn}/list_parameters")
        get_client = g.client_node.create_client(GetParameters, f"{fqn}/get_parameters")
        assert list_client.wait_for_service(10.0) and get_client.wait_for_service(10.0)
        listed = list_client.call_async(ListParameters.Request())
        assert wait_for(listed.done, 10.0)
        names = list(listed.result().result.names)
        assert set(node.params.specs) <= set(names)
        got = get_client.call_async(GetParameters.Request(names=names))
        assert wait_for(got.done, 10.0)
        values = got.result().values
        assert len(values) == len(names) and all(v.type != 0 for v in values), names
        if which == "cloud":
            by_name = dict(zip(names, values))
            assert list(by_name["allowed_streams"].string_array_value) == ["*"]
