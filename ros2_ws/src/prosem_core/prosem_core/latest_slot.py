"""A depth-1, drop-to-latest hand-off between a callback and a worker thread.

The producer (a subscription callback) never blocks and never queues: a new item replaces one the
worker has not taken yet, and that replacement is counted. The worker waits for the newest item.
"""
from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._closed = False
        self.put_count = 0
        self.dropped = 0  # items replaced before the worker took them

    def put(self, item: T) -> bool:
        """Offer an item; True when it replaced an untaken one (that one is dropped)."""
        with self._cond:
            replaced = self._full
            self._item, self._full = item, True
            self.put_count += 1
            self.dropped += int(replaced)
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> T | None:
        """The newest item, or None on timeout or after close()."""
        with self._cond:
            if not self._full and not self._closed:
                self._cond.wait(timeout)
            if not self._full or self._closed:
                return None
            item, self._item, self._full = self._item, None, False
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
