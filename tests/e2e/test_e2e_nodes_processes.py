"""edge_node and cloud_node as real processes (their console scripts, `--ros-args -p ...`), on loopback,
with the real default pipeline: layers flow, queries answer, pulls work, faults and shutdown are clean."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")
from node_harness import camera_frames, wait_for  # noqa: E402
from node_pipelines import real_layers  # noqa: E402
from rosutil import private_context  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from prosem_core import images  # noqa: E402
from prosem_core.codec import read_header  # noqa: E402
from prosem_msgs.srv import Query  # noqa: E402

pytestmark = pytest.mark.timeout(180)
BIN = Path(sys.executable).parent


def _start(script: str, *params: str) -> subprocess.Popen:
    args = [str(BIN / script), "--ros-args", *sum((["-p", p] for p in params), [])]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))


def _stop(proc: subprocess.Popen, timeout: float = 15.0) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return -9, proc.stdout.read()
    return proc.returncode, proc.stdout.read()


class Robot:
    """The test process's side: a camera publisher (in a thread) and a query client."""

    def __init__(self, ctx, hz: float = 5.0) -> None:
        from rclpy.executors import SingleThreadedExecutor

        self.node = rclpy.create_node("e2e_robot", context=ctx)
        self.camera = self.node.create_publisher(Image, "camera/image_raw", 10)
        self.client = self.node.create_client(Query, "prosem/query")
        self.executor = SingleThreadedExecutor(context=ctx)
        self.executor.add_node(self.node)
        # One photo: its layer fidelities are known in advance (node_pipelines.real_layers).
        self.frames = [images.fill_image_msg(Image(), camera_frames(1)[0], "rgb8")]
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._camera, args=(hz,), daemon=True),
                         threading.Thread(target=self._spin, daemon=True)]
        for t in self._threads:
            t.start()

    def _camera(self, hz: float) -> None:
        i = 0
        while not self._stop.wait(1.0 / hz):
            msg = self.frames[i % len(self.frames)]
            msg.header.stamp = self.node.get_clock().now().to_msg()
            self.camera.publish(msg)
            i += 1

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def query(self, wait_s: float = 30.0, **fields):
        req = Query.Request(question=fields.pop("question", "what shape is in the image?"), frame_seq=fields.pop("frame_seq", -1),
                            timeout_s=fields.pop("timeout_s", 3.0), **fields)
        future = self.client.call_async(req)
        assert wait_for(future.done, wait_s), "no response"
        return future.result()

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(2.0)
        self.executor.shutdown()
        self.node.destroy_node()


def _ready(robot: Robot, procs, predicate_s: float = 90.0) -> None:
    """Wait until the cloud answers a plain query (models built, layers flowing)."""
    deadline = time.monotonic() + predicate_s
    last = None
    while time.monotonic() < deadline:
        for p in procs:
            assert p.poll() is None, f"{p.args[0]} exited: {_stop(p)[1][-3000:]}"
        if robot.client.service_is_ready():
            last = robot.query(timeout_s=0.0)
            if last.success:
                return
        time.sleep(0.3)
    pytest.fail(f"never answered; last response: {last}")


def test_progressive_across_processes_pull_and_clean_shutdown():
    cloud = _start("cloud_node", "stream_stale_s:=1.5", "warmup:=false")
    edge = _start("edge_node", "stream_id:=robot1", "max_layers_per_frame:=1", "max_encode_rate_hz:=5.0")
    with private_context() as ctx:
        robot = Robot(ctx)
        try:
            _ready(robot, [cloud, edge])
            coarse = robot.query(min_fidelity=0.0)
            assert coarse.success and coarse.stream_id == "robot1" and coarse.layers_used == 1, coarse.error
            fids = [read_header(x).fidelity for x in real_layers(0, 0)]
            assert coarse.fidelity == pytest.approx(fids[0], abs=1e-4)
            target = (fids[1] + fids[2]) / 2  # layers 0..2 reach it, 0..1 do not
            fine = robot.query(min_fidelity=target, timeout_s=5.0, frame_seq=coarse.frame_seq)
            assert fine.success and fine.fidelity_reached, fine.error
            assert fine.layers_used >= 3 and fine.fidelity >= target > coarse.fidelity and fine.bytes_used > coarse.bytes_used
            assert fine.latency_s < 5.0
            # The robot's edge stops (killed, no goodbye): the cloud keeps serving, and says the stream is stale.
            edge.kill()
            edge.wait()
            time.sleep(2.0)
            stale = robot.query()
            assert not stale.success and "stale" in stale.error
            # A new edge process (new epoch, frame_seq from 0 again): answers resume.
            edge = _start("edge_node", "stream_id:=robot1")
            assert wait_for(lambda: robot.query(timeout_s=0.0).success, 60.0, period_s=0.5)
        finally:
            robot.close()
            codes = {name: _stop(p) for name, p in (("cloud", cloud), ("edge", edge))}
    for name, (code, out) in codes.items():
        assert code == 0, f"{name} exit {code}: {out[-3000:]}"
        assert "Traceback" not in out and "never retrieved" not in out, f"{name}: {out[-3000:]}"


@pytest.mark.parametrize("script, param, word", [
    ("edge_node", "max_encode_rate_hz:=-1.0", "max_encode_rate_hz"),
    ("edge_node", "mode:=teleport", "teleport"),
    ("cloud_node", "mode:=teleport", "teleport"),
    ("cloud_node", "pull_retry_s:=0.0", "pull_retry_s"),
])
def test_bad_start_parameter_exits_with_reason(script, param, word):
    proc = _start(script, param)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"{script} kept running with {param}")
    out = proc.stdout.read()
    assert code != 0 and word in out, out[-2000:]
