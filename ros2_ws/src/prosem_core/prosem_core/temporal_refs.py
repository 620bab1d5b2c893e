"""The cloud's half of temporal coding: each stream's chain of reference frames, kept current.

A predicted (delta) frame decodes only against the reference tokens the edge coded it against, and a
reference is itself often a delta frame: its tokens need its own reference, back to the last
keyframe. So the chain cannot be rebuilt lazily when a question comes (the frames it needs may be
gone); every base layer has to enter the chain in arrival order as it comes in
(TemporalDecoder.hold: nothing to decode for a keyframe, one decode per reference frame for deltas).
That must not run on the executor thread that delivers layers: `offer()` only queues the layer, a
worker thread holds it in the stream's TemporalDecoder.

Queries decode any prefix with `tokens()`: keyframes directly, delta frames against the chain (after
waiting briefly for the worker to catch up with the frame's reference). When a delta frame cannot be
decoded (its reference was lost, or arrived after it), the stream is marked broken and
`keyframe_wanted()` says so, once and again every `retry_s` until a keyframe repairs the chain; the
node puts that into the next LayerFeedback (`request_keyframe`).
"""
from __future__ import annotations

import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from prosem_core.codec import CodecError, MetaAutoEncoder, read_header
from prosem_core.codec.temporal import TemporalDecoder


@dataclass
class _Chain:
    epoch: int
    decoder: TemporalDecoder
    broken_since: float | None = None  # when a delta frame last failed to decode (None: intact)
    asked_at: float = -1e9  # when keyframe_wanted() last said yes
    processed: int = 0  # base layers held in the chain


class TemporalRefs:
    def __init__(self, codec: MetaAutoEncoder, history: int, max_streams: int, retry_s: float = 1.0,
                 wait_s: float = 0.5, clock: Callable[[], float] = time.monotonic) -> None:
        self.codec, self.history, self.max_streams = codec, history, max_streams
        self.retry_s, self.wait_s, self._clock = retry_s, wait_s, clock
        self._chains: OrderedDict[str, _Chain] = OrderedDict()
        self._lock = threading.Lock()  # chains and their decoders (not thread-safe themselves)
        self._done = threading.Condition(self._lock)
        self._queue: queue.Queue[tuple[str, int, bytes] | None] = queue.Queue(maxsize=max(64, 4 * max_streams))
        self._pending = 0  # offered, not yet processed
        self.counters = {"chain_held": 0, "chain_broken": 0, "chain_queue_full": 0}
        self._worker = threading.Thread(target=self._work, name="temporal-refs", daemon=True)
        self._worker.start()

    # -- ingest side (executor thread: cheap) ---------------------------------------------------

    def offer(self, stream_id: str, epoch: int, base_layer: bytes) -> None:
        """An accepted base layer (layer 0) of a frame, in arrival order."""
        with self._lock:
            self._pending += 1  # before the put: the worker may finish it before this returns
        try:
            self._queue.put_nowait((stream_id, int(epoch), bytes(base_layer)))
        except queue.Full:  # the worker fell far behind: a gap in the chain, repaired by a keyframe
            self.counters["chain_queue_full"] += 1
            with self._lock:
                self._pending -= 1
                chain = self._chains.get(stream_id)
                if chain is not None and chain.broken_since is None:
                    chain.broken_since = self._clock()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            stream_id, epoch, layer = item
            with self._lock:
                self._decode_into_chain(stream_id, epoch, layer)
                self._pending -= 1
                self._done.notify_all()

    def _decode_into_chain(self, stream_id: str, epoch: int, layer: bytes) -> None:
        chain = self._chains.get(stream_id)
        if chain is None or chain.epoch != epoch:  # a new stream, or a restarted edge: a new chain
            chain = _Chain(epoch, TemporalDecoder(self.codec, self.history))
            self._chains[stream_id] = chain
            while len(self._chains) > self.max_streams:
                self._chains.popitem(last=False)
        self._chains.move_to_end(stream_id)
        try:
            chain.decoder.hold([layer])
        except CodecError:
            if chain.broken_since is None:
                chain.broken_since = self._clock()
                self.counters["chain_broken"] += 1
            return
        chain.processed += 1
        self.counters["chain_held"] += 1
        if read_header(layer).keyframe:
            chain.broken_since = None

    # -- query side (query threads) -------------------------------------------------------------

    def tokens(self, stream_id: str, epoch: int, layers: Sequence[bytes]) -> np.ndarray:
        """Decode a prefix of one frame of the stream: keyframe or delta. Raises CodecError when a delta
        frame's reference is not in the chain (after waiting up to wait_s for the worker)."""
        first = read_header(layers[0])
        if first.keyframe:
            return self.codec.decode(list(layers))
        deadline = self._clock() + self.wait_s
        with self._done:
            while True:
                chain = self._chains.get(stream_id)
                if chain is not None and chain.epoch == int(epoch):
                    try:
                        return chain.decoder.decode(list(layers))
                    except CodecError:
                        if self._pending == 0 or self._clock() >= deadline:
                            raise
                elif self._pending == 0 or self._clock() >= deadline:
                    raise CodecError(f"no reference chain for stream {stream_id!r} epoch {epoch}: request a keyframe")
                self._done.wait(timeout=0.05)

    def keyframe_wanted(self, stream_id: str) -> bool:
        """True when the stream's chain is broken and the edge was not asked within retry_s."""
        now = self._clock()
        with self._lock:
            chain = self._chains.get(stream_id)
            if chain is None or chain.broken_since is None or now - chain.asked_at < self.retry_s:
                return False
            chain.asked_at = now
            return True

    def drain(self, timeout_s: float = 2.0) -> bool:
        """Wait until every offered layer is in its chain (tests, shutdown)."""
        deadline = self._clock() + timeout_s
        with self._done:
            while self._pending and self._clock() < deadline:
                self._done.wait(timeout=0.05)
            return self._pending == 0

    def close(self) -> None:
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
        self._worker.join(timeout=2.0)
