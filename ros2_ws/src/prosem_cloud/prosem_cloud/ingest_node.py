"""The cloud's ingest (layer and JPEG subscriptions, feedback publishers) on a node and an executor
thread of its own, beside the cloud node that serves the questions.

Why: an rclpy executor rebuilds its wait set in Python for every message it dispatches, walking every
entity of its nodes, and a MultiThreadedExecutor also hands each callback to its thread pool. With the
query services, action servers and QoS event handlers of 32 robot namespaces on one
MultiThreadedExecutor, the robots' layer messages kept that loop busy and each question waited its
turn behind them. Here the layers go through a SingleThreadedExecutor that walks only the ingest's own
entities and calls them in place, and the question executor wakes only for questions. Measured with
`prosem bench link --only scale` (32 robots x 5 fps, 30 s windows, 2 shared cores, numpy limited to
one thread in both runs): cloud CPU 0.87 -> 0.42 s/s, query p95 0.045 -> 0.024 s.

Names: the cloud node resolves every topic name (its namespace and its remap rules), and this node
takes those absolute names and ignores the process's global arguments, so a `__node:=` remap meant
for the cloud does not give two nodes one name, and a remapped cloud topic stays remapped. The node
is called `<cloud node name>_ingest` in the cloud's namespace.

A callback that raises is logged (the first time with its traceback, then throttled) and counted in
`errors`; the thread keeps spinning, as a dropped message must not stop a robot's uplink. What fails
because rclpy is shutting down (Ctrl-C invalidates the context under a running callback) is not an
error and is neither logged nor counted.

The ingest node keeps its parameter services although it has no parameters of its own: without them
`ros2 param list` waits for them and prints a time-out for this node.
"""
from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable

from rclpy.executors import ExternalShutdownException, ShutdownException, SingleThreadedExecutor
from rclpy.node import Node

SPIN_TIMEOUT_S = 0.2  # how often the thread looks at its stop flag when no message comes
ERROR_LOG_PERIOD_S = 5.0


class IngestNode(Node):
    """A node for the cloud's wire entities, spun by its own thread once start() is called."""

    def __init__(self, cloud: Node, on_error: Callable[[], None] | None = None) -> None:
        super().__init__(f"{cloud.get_name()}_ingest", namespace=cloud.get_namespace(), context=cloud.context,
                         use_global_arguments=False)
        # Made in start(), once the models loaded: an executor installs a SIGINT guard condition, and
        # one made earlier would be torn down (and a late second Ctrl-C land in its __del__) whenever
        # a Ctrl-C interrupts the model load.
        self._executor: SingleThreadedExecutor | None = None
        self._stop = threading.Event()
        self._on_error = on_error
        self._last_error_log: float | None = None
        self._thread = threading.Thread(target=self._spin, name="cloud-ingest", daemon=True)

    def start(self) -> None:
        self._executor = SingleThreadedExecutor(context=self.context)
        self._executor.add_node(self)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set() and self.context.ok():
            try:
                self._executor.spin_once(timeout_sec=SPIN_TIMEOUT_S)
            except (ExternalShutdownException, ShutdownException):
                return  # rclpy shut down (Ctrl-C) or close() below
            except Exception as exc:  # one bad callback must not end the ingest
                if self._stop.is_set() or not self.context.ok():
                    return  # shutting down: a publish on the invalid context failed, nothing to report
                if self._on_error is not None:
                    self._on_error()
                now = time.monotonic()
                if self._last_error_log is None:
                    self._last_error_log = now
                    self.get_logger().error(f"ingest callback failed (counted in 'errors'):\n{traceback.format_exc()}")
                elif now - self._last_error_log >= ERROR_LOG_PERIOD_S:
                    self._last_error_log = now
                    self.get_logger().error(f"ingest callback failed again (counted in 'errors'): {exc!r}")

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop the thread (the callback running finishes), then destroy the node."""
        self._stop.set()
        if self._executor is None:  # never started
            self.destroy_node()
            return
        try:
            # Ends the thread's wait at once (its spin_once sees the executor shut down); rclpy defers
            # destroying the executor's guard condition while that wait still holds it.
            self._executor.shutdown(timeout_sec=0.0)
        except Exception:  # the context may already be shut down (Ctrl-C): nothing left to stop
            pass
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)
            if self._thread.is_alive():
                self.get_logger().warning(f"an ingest callback still runs after {timeout_s:g} s; destroying the node anyway")
        self.destroy_node()
