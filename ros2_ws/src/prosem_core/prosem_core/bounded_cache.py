"""A memo bounded in bytes, for caches keyed by text that users choose (questions, answer targets).

A count bound is no bound when the keys are user text: 4,096 questions of 10 MB each are 40 GB. This
memo counts each entry's key bytes (UTF-8) plus its value's bytes, drops least-recently-used entries
to stay under `max_bytes`, and never stores a key longer than `max_key_chars` (such text is not worth
remembering and must not evict everything else).
"""
from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")
ENTRY_OVERHEAD_BYTES = 128  # dict slot, key and value objects: a rough per-entry cost


def value_bytes(value: object) -> int:
    """Bytes a value holds: `nbytes` for arrays, else its shallow size."""
    nbytes = getattr(value, "nbytes", None)
    return int(nbytes) if nbytes is not None else sys.getsizeof(value)


class ByteBoundedMemo(Generic[V]):
    """str -> value, least recently used first out, at most `max_bytes` in all. Not thread-safe."""

    def __init__(self, max_bytes: int, max_key_chars: int = 1024) -> None:
        if max_bytes <= 0 or max_key_chars <= 0:
            raise ValueError("max_bytes and max_key_chars must be positive")
        self.max_bytes = max_bytes
        self.max_key_chars = max_key_chars
        self._entries: OrderedDict[str, tuple[V, int]] = OrderedDict()
        self.nbytes = 0
        self.skipped = 0  # entries not stored (key too long or bigger than the whole memo)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: str, value: V) -> bool:
        """Remember value under key; False when it is not stored (too long a key or too big)."""
        if len(key) > self.max_key_chars:
            self.skipped += 1
            return False
        size = len(key.encode("utf-8", "surrogatepass")) + value_bytes(value) + ENTRY_OVERHEAD_BYTES
        if size > self.max_bytes:
            self.skipped += 1
            return False
        old = self._entries.pop(key, None)
        if old is not None:
            self.nbytes -= old[1]
        while self._entries and self.nbytes + size > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.nbytes -= dropped
        self._entries[key] = (value, size)
        self.nbytes += size
        return True
