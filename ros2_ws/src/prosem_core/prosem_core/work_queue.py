"""A bounded pool of worker threads for slow requests (queries), with a clear `busy` refusal.

The node's executor threads never run a query: a service/action callback submits it here and awaits
the result, so layer ingest keeps its threads however many users wait. At most `max_pending`
requests are running or queued; one more is refused at once (WorkQueueBusy) instead of piling up
behind a slow model.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class WorkQueueBusy(RuntimeError):
    pass


class BoundedWorkQueue:
    def __init__(self, threads: int, max_pending: int, name: str = "worker") -> None:
        if threads < 1 or max_pending < threads:
            raise ValueError("need threads >= 1 and max_pending >= threads")
        self.max_pending = max_pending
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._pending = 0
        self.refused = 0

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        with self._lock:
            if self._pending >= self.max_pending:
                self.refused += 1
                raise WorkQueueBusy(f"{self._pending} requests already running or waiting (max_pending {self.max_pending})")
            self._pending += 1
        try:
            future = self._pool.submit(fn, *args, **kwargs)
        except RuntimeError:  # shutting down
            self._done(None)
            raise
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future | None) -> None:
        with self._lock:
            self._pending -= 1

    def shutdown(self, wait: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)
