"""Run slow work (a query) off the executor and await it from an async callback.

    async def _on_query(self, request, response):
        done = await offload(self, self.query_work, self.run_query, request)   # WorkQueueBusy if full
        result = done.result()

The callback's executor thread is free while the work runs (rclpy resumes a coroutine callback when
its executor wakes up); the future's done-callback is what wakes it. So waiting queries can never
take the threads that deliver the layers they wait for.
"""
from __future__ import annotations

from concurrent.futures import Future as ThreadFuture
from typing import Any

from rclpy.node import Node
from rclpy.task import Future

from prosem_core.work_queue import BoundedWorkQueue


def offload(node: Node, work: BoundedWorkQueue, fn, *args: Any, **kwargs: Any) -> Future:
    """Submit fn(*args) to `work`; returns an rclpy Future resolved (with the finished thread future)
    when it is done. Raises WorkQueueBusy at once when `work` is full."""
    done: Future = Future(executor=node.executor)
    # A done-callback makes set_result() schedule a task on the executor, which wakes it; the
    # awaiting coroutine is then resumed. Without one, nothing would wake a waiting executor.
    done.add_done_callback(lambda _f: None)
    thread_future: ThreadFuture = work.submit(fn, *args, **kwargs)
    thread_future.add_done_callback(done.set_result)
    return done
