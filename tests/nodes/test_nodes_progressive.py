"""Edge + cloud in one process: layers flow, queries answer, pulls raise fidelity, the action streams."""
import math
import time

import pytest
import rclpy.parameter
from node_harness import Graph, camera_frames, wait_for
from node_pipelines import real_layers, real_pipeline

from prosem_core.codec import read_header

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def pipeline():
    return real_pipeline()


@pytest.fixture(scope="module")
def frames():
    return camera_frames(1)  # one photo, so every frame's layer fidelities are known in advance


@pytest.fixture(scope="module")
def fidelities():
    """Fidelity after each layer of the test photo with the shipped codebook."""
    return [read_header(x).fidelity for x in real_layers(0, 0)]


def _needs_three(fids):
    """A min_fidelity that layers 0..1 miss and layers 0..2 reach."""
    assert fids[0] < fids[1] < fids[2], fids
    return (fids[1] + fids[2]) / 2


def test_layers_flow_and_query_answers(pipeline, frames):
    with Graph(pipeline, edge={"stream_id": "robot1"}) as g:
        assert g.feed_until(frames, lambda: "robot1" in g.cloud.assembler.streams)
        resp = g.query(min_fidelity=0.0)
        assert resp.success, resp.error
        assert resp.stream_id == "robot1" and resp.layers_used >= 1 and resp.bytes_used > 0
        assert resp.fidelity_reached and 0 < resp.fidelity <= 1 and resp.answer
        # The edge measured the link from the cloud's receipts.
        assert wait_for(lambda: g.edge.link_state is not None and not math.isnan(g.edge.link_state.rtt_s), 5.0)
        state = g.edge.link_state
        assert state.mode == "progressive" and state.base_qos.startswith("best_effort") and state.refine_qos.startswith("best_effort")
        assert state.layers_per_frame >= 1


def test_pull_raises_fidelity(pipeline, frames, fidelities):
    # Only the base layer is pushed: every refinement must be pulled by the query.
    with Graph(pipeline, edge={"stream_id": "robot1", "max_layers_per_frame": 1}) as g:
        assert g.feed_until(frames, lambda: "robot1" in g.cloud.assembler.streams)
        coarse = g.query(min_fidelity=0.0)
        assert coarse.success and coarse.layers_used == 1
        assert coarse.fidelity == pytest.approx(fidelities[0], abs=1e-4)
        target = _needs_three(fidelities)
        fine = g.query(min_fidelity=target, timeout_s=5.0, frame_seq=coarse.frame_seq)
        assert fine.success, fine.error
        assert fine.fidelity_reached and fine.fidelity >= target > coarse.fidelity
        assert fine.layers_used >= 3 and fine.bytes_used > coarse.bytes_used
        assert fine.answer in pipeline.answerer.head.answers
        assert g.edge.all_counters()["layers_pulled"] >= fine.layers_used - 1
        assert g.cloud.all_counters()["pull_requests"] >= 1


def test_unreachable_fidelity_answers_at_timeout_and_says_so(pipeline, frames):
    with Graph(pipeline, edge={"stream_id": "robot1", "max_layers_per_frame": 1}) as g:
        assert g.feed_until(frames, lambda: "robot1" in g.cloud.assembler.streams)
        g.stop_edge()  # nobody left to serve the pull
        resp = g.query(min_fidelity=1.0, timeout_s=0.5)
        assert resp.success and not resp.fidelity_reached
        assert resp.layers_used == 1 and 0.45 <= resp.latency_s < 3.0
        assert g.cloud.all_counters()["queries_below_fidelity"] == 1


def test_action_streams_refined_answers(pipeline, frames, fidelities):
    with Graph(pipeline, edge={"stream_id": "robot1", "max_layers_per_frame": 1}) as g:
        assert g.feed_until(frames, lambda: "robot1" in g.cloud.assembler.streams)
        target = _needs_three(fidelities)
        feedback, result = g.action(min_fidelity=target, timeout_s=5.0)
        assert result.success and result.fidelity_reached, result.error
        assert len(feedback) >= 2
        layers = [fb.layers_used for fb in feedback]
        assert layers == sorted(layers) and layers[0] == 1
        assert result.layers_used >= layers[-1]  # layers that arrived after the last refinement count too
        assert feedback[-1].fidelity > feedback[0].fidelity and result.fidelity >= target
        assert all(fb.answer in pipeline.answerer.head.answers for fb in feedback)


def test_refinement_qos_follows_the_frame_rate(pipeline, frames):
    with Graph(pipeline, edge={"stream_id": "robot1", "qos_update_min_interval_s": 0.5, "link_state_period_s": 0.1}) as g:
        assert g.feed_until(frames, lambda: "robot1" in g.cloud.assembler.streams)
        assert wait_for(lambda: g.edge.link_state is not None, 5.0)
        # 5 fps on loopback: one frame period + 2 RTT is well under a second (0.25 or 0.5 s step).
        assert not g.edge.link_state.refine_qos.endswith("lifespan 2s"), g.edge.link_state.refine_qos
        g.edge.set_parameters([rclpy.parameter.Parameter("max_encode_rate_hz", value=1.0)])
        # One frame period + 2 RTT is now just over 1 s: the next lifespan step, 2 s.
        assert g.feed_until(frames, lambda: g.edge.link_state.refine_qos.endswith("lifespan 2s"), timeout_s=10.0)
        assert g.edge.all_counters()["qos_changes"] >= 1
        # Make before break: refinements move once the new publisher reaches the cloud.
        transport = g.edge.transport
        assert g.feed_until(frames, lambda: not transport.switcher.switching, timeout_s=10.0)
        assert transport.refine_pubs[transport.switcher.active].qos_profile.lifespan.nanoseconds == 2_000_000_000
        assert g.cloud.count_publishers("prosem/layers/refine") == 2  # one per step used, kept
        before = g.cloud.all_counters()["accepted"]
        # Refinements still reach the cloud through the re-created publisher.
        assert g.feed_until(frames, lambda: g.cloud.all_counters()["accepted"] >= before + 4, timeout_s=10.0)
        newest = g.cloud.assembler.streams["robot1"].frames[max(g.cloud.assembler.streams["robot1"].frames)]
        assert wait_for(lambda: newest.prefix > 1, 3.0)


def test_action_cancel_stops_waiting(pipeline, frames):
    from action_msgs.msg import GoalStatus

    from prosem_msgs.action import Query as QueryAction

    with Graph(pipeline, edge={"stream_id": "robot1", "max_layers_per_frame": 1}) as g:
        assert g.feed_until(frames, lambda: "robot1" in g.cloud.assembler.streams)
        g.stop_edge()  # no pulls served: the goal would wait its whole timeout
        assert g.action_client.wait_for_server(timeout_sec=10.0)
        goal = QueryAction.Goal(question="what shape is in the image?", frame_seq=-1, min_fidelity=1.0, timeout_s=20.0)
        send = g.action_client.send_goal_async(goal)
        assert wait_for(send.done, 10.0)
        handle = send.result()
        started = time.monotonic()
        cancel = handle.cancel_goal_async()
        assert wait_for(cancel.done, 10.0)
        result = handle.get_result_async()
        assert wait_for(result.done, 10.0)
        assert result.result().status == GoalStatus.STATUS_CANCELED
        assert time.monotonic() - started < 5.0  # not the 20 s timeout


class _SlowWarmAnswerer:
    """The real answerer behind a warm-up that takes a while and must finish before any answer
    (like loading MiniLM: a concurrent lazy import breaks)."""

    def __init__(self, inner):
        self.inner, self.warm, self.concurrent = inner, False, 0

    def warm_up(self):
        time.sleep(1.0)
        self.warm = True

    def answer(self, tokens, question):
        if not self.warm:
            self.concurrent += 1
            raise RuntimeError("answered during warm-up")
        return self.inner.answer(tokens, question)


def test_models_are_warm_before_the_node_serves(pipeline, frames):
    """start() loads and warms the models before the console script spins the node, so no query can
    land inside the warm-up (and a missing model fails the start instead of the first query)."""
    from types import SimpleNamespace

    slow = SimpleNamespace(encoder=pipeline.encoder, codec=pipeline.codec, answerer=_SlowWarmAnswerer(pipeline.answerer))
    with Graph(slow, edge={"stream_id": "robot1"}, cloud={"warmup": True}) as g:
        assert slow.answerer.warm and g.cloud.ready.is_set()
        assert g.feed_until(frames, lambda: "robot1" in g.cloud.assembler.streams)
        resp = g.query()
        assert resp.success, resp.error
        assert slow.answerer.concurrent == 0
