"""Edge and cloud nodes in one process for the node tests: a private context, a random domain,
a MultiThreadedExecutor in a background thread, a camera publisher and query clients."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import rclpy
from rclpy.action import ActionClient
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from rosutil import domain_id
from sensor_msgs.msg import Image

from prosem_core import images
from prosem_msgs.action import Query as QueryAction
from prosem_msgs.srv import Query


def camera_frames(n: int = 4, size: tuple[int, int] = (480, 640)) -> list[np.ndarray]:
    """Natural photos (skimage's bundled ones), resized to a robot camera's frame size."""
    import cv2
    from skimage import data

    photos = [data.chelsea(), data.astronaut(), data.coffee(), data.rocket()]
    return [cv2.resize(np.ascontiguousarray(photos[i % len(photos)][..., :3]), (size[1], size[0])) for i in range(n)]


def overrides(params: dict[str, Any] | None) -> list[Parameter]:
    return [Parameter(k, value=v) for k, v in (params or {}).items()]


def wait_for(predicate: Callable[[], bool], timeout_s: float, period_s: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(period_s)
    return predicate()


class Graph:
    """with Graph(pipeline, edge={...}, cloud={...}) as g: g.publish(frame); g.query(...)"""

    def __init__(self, pipeline, edge: dict | None = None, cloud: dict | None = None, with_edge: bool = True,
                 with_cloud: bool = True, threads: int = 6) -> None:
        from prosem_cloud.cloud_node import CloudNode
        from prosem_edge.edge_node import EdgeNode

        self.ctx = Context()
        rclpy.init(context=self.ctx, domain_id=domain_id())
        self.nodes = []
        # As their console scripts do: construct (parameters), then start (models, workers).
        self.edge = EdgeNode(pipeline=pipeline, context=self.ctx, parameter_overrides=overrides(edge)).start() if with_edge else None
        self.cloud = CloudNode(pipeline=pipeline, context=self.ctx, parameter_overrides=overrides(cloud)).start() if with_cloud else None
        self.client_node = rclpy.create_node("prosem_test_client", context=self.ctx)
        self.camera = self.client_node.create_publisher(Image, "camera/image_raw", 10)
        self.query_client = self.client_node.create_client(Query, "prosem/query")
        self.action_client = ActionClient(self.client_node, QueryAction, "prosem/query")
        self.executor = MultiThreadedExecutor(num_threads=threads, context=self.ctx)
        for node in (self.edge, self.cloud, self.client_node):
            if node is not None:
                self.executor.add_node(node)
        self._spin = threading.Thread(target=self._spin_forever, daemon=True)
        self._spin.start()

    def _spin_forever(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # shutdown races end the spin
            pass

    def __enter__(self) -> Graph:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        for node in (self.edge, self.cloud, self.client_node):
            if node is not None:
                node.destroy_node()
        self.ctx.try_shutdown()
        self._spin.join(timeout=5.0)

    def stop_edge(self) -> None:
        self.executor.remove_node(self.edge)
        self.edge.destroy_node()
        self.edge = None

    # -- inputs -------------------------------------------------------------------------------

    def publish(self, rgb: np.ndarray) -> None:
        msg = images.fill_image_msg(Image(), rgb, "rgb8")
        msg.header.stamp = self.client_node.get_clock().now().to_msg()
        msg.header.frame_id = "camera_optical"
        self.camera.publish(msg)

    def stream_frames(self, frames: list[np.ndarray], hz: float, seconds: float) -> None:
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            self.publish(frames[i % len(frames)])
            i += 1
            time.sleep(1.0 / hz)

    @contextmanager
    def camera_running(self, frames: list[np.ndarray], hz: float = 5.0) -> Iterator[None]:
        """A camera publishing in the background (like a real one) while the block runs."""
        stop = threading.Event()

        def run() -> None:
            i = 0
            while not stop.wait(1.0 / hz):
                self.publish(frames[i % len(frames)])
                i += 1

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(2.0)

    def feed_until(self, frames, predicate: Callable[[], bool], timeout_s: float = 20.0, hz: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout_s
        i = 0
        while time.monotonic() < deadline:
            if predicate():
                return True
            self.publish(frames[i % len(frames)])
            i += 1
            time.sleep(1.0 / hz)
        return predicate()

    # -- queries ------------------------------------------------------------------------------

    def query(self, question: str = "what shape is in the image?", stream_id: str = "", frame_seq: int = -1,
              min_fidelity: float = 0.0, timeout_s: float = 2.0, wait_s: float = 30.0):
        assert self.query_client.wait_for_service(timeout_sec=10.0)
        req = Query.Request(question=question, stream_id=stream_id, frame_seq=frame_seq, min_fidelity=min_fidelity,
                            timeout_s=timeout_s)
        future = self.query_client.call_async(req)
        if not wait_for(future.done, wait_s):
            import faulthandler
            import sys

            faulthandler.dump_traceback(file=sys.stderr)  # where every thread is stuck
            raise AssertionError("query got no response")
        return future.result()

    def action(self, question: str = "what shape is in the image?", stream_id: str = "", frame_seq: int = -1,
               min_fidelity: float = 0.0, timeout_s: float = 2.0, wait_s: float = 30.0):
        assert self.action_client.wait_for_server(timeout_sec=10.0)
        goal = QueryAction.Goal(question=question, stream_id=stream_id, frame_seq=frame_seq, min_fidelity=min_fidelity,
                                timeout_s=timeout_s)
        feedback = []
        send = self.action_client.send_goal_async(goal, feedback_callback=lambda fb: feedback.append(fb.feedback))
        assert wait_for(send.done, wait_s)
        handle = send.result()
        assert handle.accepted
        result = handle.get_result_async()
        assert wait_for(result.done, wait_s), "action got no result"
        return feedback, result.result().result
