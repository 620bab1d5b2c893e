"""prosem_core.admission: bounded admission, bounded concurrency, refusal at once when full."""
import threading
import time

import pytest

from prosem_core.admission import AdmissionBusy, QueryAdmission


def test_runs_at_most_running_waits_up_to_max_pending_refuses_beyond():
    adm = QueryAdmission(running=2, max_pending=3)
    gate, inside, peak = threading.Event(), [], [0]
    lock = threading.Lock()

    def query():
        with adm.slot():
            with lock:
                inside.append(1)
                peak[0] = max(peak[0], len(inside))
            gate.wait(5.0)
            with lock:
                inside.pop()

    threads = [threading.Thread(target=query) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5.0
    while adm.admitted < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert adm.admitted == 3
    t0 = time.monotonic()
    with pytest.raises(AdmissionBusy, match="max_pending_queries 3"):
        with adm.slot():
            pass
    assert time.monotonic() - t0 < 0.5 and adm.refused == 1  # refused at once, not queued
    gate.set()
    for t in threads:
        t.join(5.0)
    assert peak[0] == 2 and adm.admitted == 0  # never more than `running` at once; all slots back


def test_a_waiting_query_can_be_canceled_and_frees_its_place():
    adm = QueryAdmission(running=1, max_pending=2)
    with adm.slot():  # the one running slot is taken
        canceled = threading.Event()
        threading.Timer(0.2, canceled.set).start()
        with pytest.raises(AdmissionBusy, match="canceled"):
            with adm.slot(cancelled=canceled.is_set, poll_s=0.02):
                pass
        assert adm.admitted == 1
    assert adm.admitted == 0


def test_configuration_is_checked():
    with pytest.raises(ValueError):
        QueryAdmission(running=4, max_pending=2)
