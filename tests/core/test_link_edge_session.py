"""prosem_core.edge_session (frame numbering, buffer, pulls) and latest_slot (depth-1 hand-off)."""
import threading
import time

from prosem_core.edge_session import EdgeSession, EdgeSessionConfig, PullRequest
from prosem_core.latest_slot import LatestSlot
from prosem_core.link.controller import RateController
from prosem_core.link.estimator import LinkEstimator


def _session(**cfg):
    return EdgeSession(EdgeSessionConfig(**cfg), LinkEstimator(), RateController(), epoch=5)


def test_frames_numbered_and_bounded():
    s = _session(buffer_frames=3)
    seqs = [s.add_frame([b"a", b"b"]) for _ in range(5)]
    assert seqs == [0, 1, 2, 3, 4]
    assert list(s.frames) == [2, 3, 4]
    assert s.layer(4, 1) == b"b" and s.layer(0, 0) is None and s.layer(4, 9) is None


def test_pull_serves_missing_layers_once_per_interval():
    s = _session(pull_resend_min_s=0.5)
    seq = s.add_frame([b"0", b"1", b"2", b"3"])
    s.mark_sent(seq, 0, 1, 10.0)
    assert s.pull(PullRequest(seq, received_mask=0b1, pull_layers=3), 10.0) == [1, 2]
    for i in (1, 2):
        s.mark_sent(seq, i, 1, 10.0)
    # The same request again right away: already on its way.
    assert s.pull(PullRequest(seq, 0b1, 3), 10.1) == []
    assert s.counters["pull_suppressed"] == 2
    # Later, and layer 1 arrived meanwhile: resend only 2.
    assert s.pull(PullRequest(seq, 0b11, 3), 10.7) == [2]
    assert s.pull(PullRequest(seq, 0b1, 0), 11.0) == []
    assert s.pull(PullRequest(99, 0, 2), 11.0) == [] and s.counters["pull_frame_gone"] == 1
    assert s.pull(PullRequest(seq, 0, 10), 12.0) == [0, 1, 2, 3]  # capped at the layer count


def test_pull_waits_for_the_frame_burst_to_drain_before_resending():
    # full_tokens: five 25 kB chunks sent together at 1 Mbit/s (the estimator's initial rate) need
    # ~1 s to leave; the cloud's repeated pulls meanwhile must not resend chunks still queued.
    s = _session(pull_resend_min_s=0.1)
    seq = s.add_frame([bytes(25_000)] * 5)
    for i in range(5):
        s.mark_sent(seq, i, 25_000, 10.0)
    assert s.pull(PullRequest(seq, 0b1, 5), 10.55) == [1]  # chunk 1 (0.4 s of bytes + margin) may be lost
    assert s.pull(PullRequest(seq, 0b11, 5), 10.95) == [2, 3]
    assert s.pull(PullRequest(seq, 0b1111, 5), 11.2) == [4]
    # Small layers: the plain interval, as before.
    seq = s.add_frame([b"0", b"1"])
    s.mark_sent(seq, 0, 1, 20.0)
    s.mark_sent(seq, 1, 1, 20.0)
    assert s.pull(PullRequest(seq, 0b1, 2), 20.05) == [] and s.pull(PullRequest(seq, 0b1, 2), 20.3) == [1]


def test_latest_slot_drops_to_latest_and_never_blocks():
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True and slot.put(3) is True
    assert slot.dropped == 2
    assert slot.take(timeout=0) == 3
    assert slot.take(timeout=0.01) is None


def test_latest_slot_wakes_worker_and_closes():
    slot: LatestSlot[int] = LatestSlot()
    got = []
    worker = threading.Thread(target=lambda: got.append(slot.take(timeout=5)))
    worker.start()
    time.sleep(0.05)
    slot.put(7)
    worker.join(2)
    assert got == [7]
    worker = threading.Thread(target=lambda: got.append(slot.take(timeout=5)))
    worker.start()
    slot.close()
    worker.join(2)
    assert got == [7, None] and slot.closed
