"""The worker's garbage-collection schedule (workers/gc_schedule.py): CPython starts no full pass of its own, the
worker runs one when the interval is over and nothing waits (or an interval late regardless), and that pass still
collects the cycles that reached the oldest generation. The real collector, with its threshold restored after."""

from __future__ import annotations

import gc
import weakref

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers.gc_schedule import NEVER, FullPassSchedule


@pytest.fixture(autouse=True)
def collector_restored():
    threshold = gc.get_threshold()
    yield
    gc.set_threshold(*threshold)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_cpython_starts_no_full_pass_however_many_objects_survive():
    FullPassSchedule(600.0)
    assert gc.get_threshold()[2] == NEVER
    before = gc.get_stats()[2]["collections"]
    survivors = [[n] for n in range(300_000)]  # enough to start several full passes under the default threshold
    assert gc.get_stats()[2]["collections"] == before
    assert len(survivors) == 300_000


def test_the_scheduled_pass_collects_a_cycle_that_reached_the_oldest_generation():
    schedule = FullPassSchedule(600.0)
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    gc.collect(1)
    gc.collect(1)  # survived two young collections: now in the oldest generation, which no young pass visits
    del a, b
    gc.collect(1)
    assert gone() is not None, "only a full pass reaches it"
    assert schedule.run() >= 0.0
    assert gone() is None


def test_due_only_when_the_interval_is_over_and_idle_or_a_whole_interval_late():
    clock = Clock()
    schedule = FullPassSchedule(10.0, clock)
    asked = []

    def idle(answer: bool):
        return lambda: asked.append(answer) or answer

    clock.now += 9.9
    assert not schedule.due(idle(True)) and asked == [], "idle() is not asked before the interval is over"
    clock.now += 0.1
    assert not schedule.due(idle(False))
    assert schedule.due(idle(True))
    clock.now += 10.0
    assert schedule.due(idle(False)), "a whole interval late: due even while requests wait"
    schedule.run()
    assert not schedule.due(idle(True))
    clock.now += 10.0
    assert schedule.due(idle(True))


def test_interval_zero_leaves_cpythons_own_full_passes():
    threshold = gc.get_threshold()
    schedule = FullPassSchedule(0.0)
    assert gc.get_threshold() == threshold and not schedule.enabled
    assert not schedule.due(lambda: True)


@given(st.lists(st.tuples(st.floats(0, 30), st.booleans()), max_size=30))
def test_passes_are_never_closer_than_the_interval(steps):
    clock = Clock()
    schedule = FullPassSchedule(10.0, clock)
    last = clock.now
    for advance, idle in steps:
        clock.now += advance
        if schedule.due(lambda idle=idle: idle):
            assert clock.now - last >= 10.0
            schedule.run()
            last = clock.now
