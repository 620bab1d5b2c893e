"""Admission of slow requests (queries): how many may wait, how many may work at once.

rclpy runs a service or action callback on an executor thread and sends its return value as the
response, so a query that waits for pulled layers holds that thread while it waits. (rclpy can run
coroutine callbacks instead, but its executor busy-polls every pending coroutine: measured here, a
node with one waiting coroutine query spun a whole core.) So the node sizes its executor as
`ingest threads + max_pending` and admits at most `max_pending` queries: whatever the users do,
`ingest threads` stay free for layer callbacks and timers. At most `running` admitted queries decode
and answer at once (the models are the scarce part); the rest wait for a turn, interruptibly. One
query more than `max_pending` is refused at once (AdmissionBusy: the `busy` error), never queued
behind a slow model.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class AdmissionBusy(RuntimeError):
    pass


class QueryAdmission:
    def __init__(self, running: int, max_pending: int) -> None:
        if running < 1 or max_pending < running:
            raise ValueError("need running >= 1 and max_pending >= running")
        self.running, self.max_pending = running, max_pending
        self._lock = threading.Condition()
        self._admitted = 0
        self._active = 0
        self.refused = 0

    @property
    def admitted(self) -> int:
        with self._lock:
            return self._admitted

    @contextmanager
    def slot(self, cancelled: Callable[[], bool] = lambda: False, poll_s: float = 0.1) -> Iterator[None]:
        """Hold one running slot for the block. AdmissionBusy at once when `max_pending` are admitted;
        waits for a running slot otherwise (giving up with AdmissionBusy if `cancelled()`)."""
        with self._lock:
            if self._admitted >= self.max_pending:
                self.refused += 1
                raise AdmissionBusy(f"{self._admitted} queries already running or waiting (max_pending_queries {self.max_pending})")
            self._admitted += 1
            try:
                while self._active >= self.running:
                    if cancelled():
                        raise AdmissionBusy("canceled while waiting for a turn")
                    self._lock.wait(poll_s)
                self._active += 1
            except BaseException:
                self._admitted -= 1
                raise
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                self._admitted -= 1
                self._lock.notify_all()
