"""Bring your own VLM, end to end through ROS: edge_node and cloud_node as separate processes, the model
chosen only by parameters (a tiny random-weight SmolVLM / LLaVA directory built here, its vision half
exported to ONNX, a codebook calibrated for it), answer a query, and the answer is exactly what the
model answers in-process from the same decoded tokens; the action streams the answer as it is
generated; a codebook of another model stops the edge at once with one line."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("transformers")
from e2e_procs import Robot, ready, start, startup_failure_line, stop  # noqa: E402
from node_harness import wait_for  # noqa: E402
from rclpy.action import ActionClient  # noqa: E402
from rosutil import private_context  # noqa: E402

from prosem_msgs.action import Query as QueryAction  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
from vlm_helpers import calibrate, tiny_model, write_photos  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]
FAMILIES = ("smolvlm", "llava")
QUESTION = "what is in the image ?"
MAX_NEW_TOKENS = 6


def _long_answer_seed(root: Path, family: str) -> int:
    """A seed whose random model answers the camera photo in several words (random weights may stop
    after one), so the streamed answer has text to stream."""
    from node_harness import camera_frames

    from prosem_core.pipeline import Pipeline, PipelineConfig

    frame = camera_frames(1)[0]
    for seed in range(11, 31):
        model_dir = tiny_model(root / "try", family, seed, export=False)
        p = Pipeline(PipelineConfig(model=family, model_dir=str(model_dir), runtime="torch", max_new_tokens=MAX_NEW_TOKENS))
        if p.answerer.answer(p.encoder.encode(frame), QUESTION).new_tokens >= 4:
            return seed
    raise AssertionError(f"no seed in 11..30 gives a {family} answer of 4 tokens")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """Per family: a tiny model directory with its ONNX edge export, and a codebook calibrated for it."""
    root = tmp_path_factory.mktemp("byo_vlm")
    photos = write_photos(root / "photos", 24)
    out = {}
    for family in FAMILIES:
        model_dir = tiny_model(root, family, _long_answer_seed(root, family))
        codebook = root / f"{family}_cb"
        assert calibrate(family, model_dir, photos, codebook) == 0
        out[family] = (model_dir, codebook)
    return out


def _params(family: str, model_dir: Path, codebook: Path) -> list[str]:
    return [f"model:={family}", f"model_dir:={model_dir}", f"codebook:={codebook}", f"max_new_tokens:={MAX_NEW_TOKENS}"]


@pytest.mark.parametrize("family", FAMILIES)
def test_vlm_chosen_by_parameters_answers_across_processes(models, family):
    from prosem_core.pipeline import Pipeline, PipelineConfig

    model_dir, codebook = models[family]
    cloud = start("cloud_node", *_params(family, model_dir, codebook), "stream_stale_s:=30.0")
    edge = start("edge_node", *_params(family, model_dir, codebook), "runtime:=onnx", "stream_id:=robot1",
                 "rate_control:=false", "max_encode_rate_hz:=2.0")
    with private_context() as ctx:
        robot = Robot(ctx, hz=2.0, record_layers=True)
        try:
            ready(robot, [cloud, edge], predicate_s=240.0)
            resp = robot.query(question=QUESTION, min_fidelity=0.0, timeout_s=5.0)
            assert resp.success and resp.answer, resp.error
            # The same decoded tokens through the same model in this process give the same answer.
            layers = robot.layers[resp.frame_seq]
            held = [layers[i] for i in range(resp.layers_used)]
            local = Pipeline(PipelineConfig(model=family, model_dir=str(model_dir), codebook=str(codebook), runtime="torch",
                                            max_new_tokens=MAX_NEW_TOKENS))
            tokens = local.codec.decode(held)
            assert local.answerer.answer(tokens, QUESTION).text == resp.answer
            # The action streams the text while the language model writes it.
            client = ActionClient(robot.node, QueryAction, "prosem/query")
            assert client.wait_for_server(timeout_sec=10.0)
            feedback = []
            goal = QueryAction.Goal(question=QUESTION, frame_seq=resp.frame_seq, min_fidelity=0.0, timeout_s=5.0)
            send = client.send_goal_async(goal, feedback_callback=lambda fb: feedback.append(fb.feedback))
            assert wait_for(send.done, 30.0) and send.result().accepted
            result = send.result().get_result_async()
            assert wait_for(result.done, 60.0)
            final = result.result().result
            partial = [fb.answer for fb in feedback if fb.partial]
            assert final.success and len(partial) >= 2, (final.error, [(fb.partial, fb.answer) for fb in feedback])
            assert all(b.startswith(a) for a, b in zip(partial, partial[1:])) and partial[-1] == final.answer
            assert final.answer == resp.answer
        finally:
            robot.close()
            codes = {name: stop(p) for name, p in (("cloud", cloud), ("edge", edge))}
    for name, (code, out) in codes.items():
        assert code == 0 and "Traceback" not in out, f"{name} exit {code}: {out[-3000:]}"


def test_codebook_of_another_model_stops_the_edge_at_once(models):
    model_dir, _ = models["smolvlm"]
    _, llava_codebook = models["llava"]
    t0 = time.monotonic()
    edge = start("edge_node", *_params("smolvlm", model_dir, llava_codebook), "runtime:=onnx")
    line, out = startup_failure_line(edge, "edge_node", t0)
    assert "calibrated for model llava" in line and "prosem calibrate" in line, out[-2000:]
