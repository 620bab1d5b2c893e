"""How every ProSem process spins its node and shuts down, in one place.

Shared by edge_node, cloud_node and the benchmark helper processes, so each tears down in the same
order: the executor first (callbacks still running finish before their node goes), then the node,
then rclpy. Ctrl-C and an external shutdown (SIGTERM via rclpy's signal handler) are normal exits.
"""
from __future__ import annotations

import rclpy
from rclpy.executors import Executor, ExternalShutdownException
from rclpy.node import Node


def spin_until_shutdown(node: Node, executor: Executor) -> int:
    """Spin `node` on `executor` until shutdown, then tear everything down; returns exit code 0."""
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
