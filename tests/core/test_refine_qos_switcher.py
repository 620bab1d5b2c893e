"""prosem_core.link.refine_qos: hysteresis and make-before-break on a fake clock."""
from prosem_core.link.qos_policy import QosSpec
from prosem_core.link.refine_qos import RefineQosConfig, RefineQosSwitcher

A, B, C = (QosSpec("best_effort", depth=16, lifespan_s=s) for s in (0.25, 1.0, 2.0))


class FakeClock:
    t = 0.0

    def __call__(self):
        return self.t


def test_a_new_step_must_be_wanted_for_the_whole_interval():
    clock = FakeClock()
    sw = RefineQosSwitcher(A, RefineQosConfig(min_interval_s=5.0), clock)
    clock.t = 10.0
    assert sw.want(B) is None  # first sight
    clock.t = 12.0
    assert sw.want(C) is None  # the wish changed: the wait starts again
    clock.t = 16.0
    assert sw.want(C) is None  # only 4 s of C
    clock.t = 17.5
    assert sw.want(C) == C and sw.switching and sw.changes == 1
    assert sw.active == A  # nothing moves before the new publisher has matched


def test_make_before_break_and_timeout():
    clock = FakeClock()
    sw = RefineQosSwitcher(A, RefineQosConfig(min_interval_s=1.0, switch_timeout_s=3.0), clock)
    clock.t = 5.0
    sw.want(B)
    clock.t = 6.5
    assert sw.want(B) == B
    readers = {A: 2, B: 1}
    assert sw.current(readers.get) == A  # B reaches 1 of the 2 readers A has
    readers[B] = 2
    assert sw.current(readers.get) == B and not sw.switching
    clock.t = 20.0
    sw.want(C)
    clock.t = 21.5
    assert sw.want(C) == C
    assert sw.current({B: 1, C: 0}.get) == B
    clock.t = 25.0  # the cloud never matched C: the switch completes anyway after the timeout
    assert sw.current({B: 1, C: 0}.get) == C


def test_no_switch_while_disabled_or_pending_or_wanted_equals_active():
    clock = FakeClock()
    sw = RefineQosSwitcher(A, RefineQosConfig(enabled=False, min_interval_s=0.0), clock)
    assert sw.want(B) is None and sw.want(B) is None
    sw.cfg.enabled = True
    assert sw.want(A) is None
    clock.t = 10.0
    sw.want(B)
    assert sw.want(B) == B
    clock.t = 30.0
    assert sw.want(C) is None and sw.want(C) is None  # one switch at a time
