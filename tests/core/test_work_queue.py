"""prosem_core.work_queue: bounded, refuses at once when full, frees slots when work ends."""
import threading

import pytest

from prosem_core.work_queue import BoundedWorkQueue, WorkQueueBusy


def test_refuses_beyond_max_pending_and_recovers():
    q = BoundedWorkQueue(threads=2, max_pending=3)
    gate = threading.Event()
    futures = [q.submit(gate.wait, 5.0) for _ in range(3)]  # 2 running, 1 queued
    with pytest.raises(WorkQueueBusy, match="max_pending 3"):
        q.submit(lambda: None)
    assert q.refused == 1 and q.pending == 3
    gate.set()
    for f in futures:
        assert f.result(5.0) is True
    assert q.submit(lambda: 42).result(5.0) == 42 and q.pending == 0
    q.shutdown()


def test_configuration_is_checked():
    with pytest.raises(ValueError):
        BoundedWorkQueue(threads=4, max_pending=2)
