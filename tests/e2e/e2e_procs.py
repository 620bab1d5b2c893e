"""Nodes as real processes for the e2e tier: start/stop console scripts with `--ros-args -p ...`, and the
test's side of a robot (a camera publisher, a recorder of the layers on the wire, a query client)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
import rclpy
from node_harness import camera_frames, wait_for
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from prosem_core import images
from prosem_msgs.msg import SemanticLayer
from prosem_msgs.srv import Query

BIN = Path(sys.executable).parent


def start(script: str, *params: str, env: dict | None = None) -> subprocess.Popen:
    args = [str(BIN / script), "--ros-args", *sum((["-p", p] for p in params), [])]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})


def startup_failure_line(proc: subprocess.Popen, prog: str, started: float) -> tuple[str, str]:
    """A node that cannot start: it must exit 2 within 10 s of `started` (monotonic), with exactly one
    line `prog: ...` saying what to do and no traceback. Returns (that line, all output)."""
    try:
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = proc.stdout.read()
    assert code == 2 and time.monotonic() - started < 10.0, out[-2000:]
    errors = [line for line in out.splitlines() if line.startswith(f"{prog}:")]
    assert len(errors) == 1 and "Traceback" not in out, out[-2000:]
    return errors[0], out


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> tuple[int, str]:
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

    def __init__(self, ctx, hz: float = 5.0, record_layers: bool = False) -> None:
        from rclpy.executors import SingleThreadedExecutor

        self.node = rclpy.create_node("e2e_robot", context=ctx)
        self.camera = self.node.create_publisher(Image, "camera/image_raw", 10)
        self.client = self.node.create_client(Query, "prosem/query")
        # Every layer seen on the wire, by frame: (frame_seq -> {layer_index: payload}).
        self.layers: dict[int, dict[int, bytes]] = defaultdict(dict)
        if record_layers:
            listen = QoSProfile(depth=64, reliability=ReliabilityPolicy.BEST_EFFORT)  # matches either kind of writer
            for topic in ("prosem/layers", "prosem/layers/refine"):
                self.node.create_subscription(SemanticLayer, topic, self._record, listen)
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

    def _record(self, msg: SemanticLayer) -> None:
        self.layers[int(msg.frame_seq)][int(msg.layer_index)] = bytes(msg.payload)

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


def ready(robot: Robot, procs, predicate_s: float = 90.0) -> None:
    """Wait until the cloud answers a plain query (models built, layers flowing)."""
    deadline = time.monotonic() + predicate_s
    last = None
    while time.monotonic() < deadline:
        for p in procs:
            assert p.poll() is None, f"{p.args[0]} exited: {stop(p)[1][-3000:]}"
        if robot.client.service_is_ready():
            last = robot.query(timeout_s=0.0)
            if last.success:
                return
        time.sleep(0.3)
    pytest.fail(f"never answered; last response: {last}")
