"""Small helpers shared by the ROS test tiers: private contexts, spinning until a condition."""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor


def domain_id() -> int:
    """The run's ROS_DOMAIN_ID (tests/conftest.py picks a random one per run)."""
    return int(os.environ.get("ROS_DOMAIN_ID", "0"))


@contextmanager
def private_context() -> Iterator[Context]:
    """An rclpy Context of its own (not the global one), on this run's domain."""
    ctx = Context()
    rclpy.init(context=ctx, domain_id=domain_id())
    try:
        yield ctx
    finally:
        ctx.try_shutdown()


def spin_until(executor, predicate: Callable[[], bool], timeout_s: float) -> bool:
    """Spin `executor` until `predicate()` is true or `timeout_s` passes; returns the predicate."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        executor.spin_once(timeout_sec=0.05)
    return predicate()


def make_executor(ctx: Context, *nodes) -> SingleThreadedExecutor:
    ex = SingleThreadedExecutor(context=ctx)
    for n in nodes:
        ex.add_node(n)
    return ex
