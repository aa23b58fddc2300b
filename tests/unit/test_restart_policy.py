"""When the supervisor restarts a dead worker (router/supervision.py): at once when it had been ready, with a
growing back-off only when it keeps dying before it is ready. Real child processes are started and SIGKILLed; only
their command is a stand-in (a sleeping Python), since a real worker takes seconds to become ready."""

from __future__ import annotations

import signal
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engram.config import Config
from engram.testing import wait_until
from router.supervision import RESTART_BACKOFF_MAX_S, WorkerPool, WorkerSlot, restart_delay

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


class SleeperPool(WorkerPool):
    def _command(self, slot: WorkerSlot) -> list[str]:
        return SLEEPER


@pytest.fixture
def pool():
    pool = SleeperPool(Config(workers=1), "tcp://127.0.0.1:1")
    pool._start(pool.slots[0])
    yield pool
    for slot in (*pool.slots, pool.builder):
        if slot.alive:
            slot.process.kill()  # type: ignore[union-attr]
            slot.process.wait()  # type: ignore[union-attr]


def _kill_and_reap(pool: WorkerPool) -> WorkerSlot:
    """SIGKILL slot 0's process, reap until the pool notices, and return the slot with its restart scheduled."""
    slot = pool.slots[0]
    slot.process.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
    slot.process.wait()  # type: ignore[union-attr]
    died = pool.reap()
    assert died == [slot]
    return slot


def test_a_worker_that_was_ready_is_restarted_at_once_however_often_it_dies(pool: WorkerPool) -> None:
    for _ in range(8):
        slot = pool.slots[0]
        slot.ready = True  # what the broker sets when the worker's WorkerReady arrives
        old_pid = slot.pid
        _kill_and_reap(pool)
        assert slot.start_failures == []
        assert slot.alive and slot.pid != old_pid, "reap must start the replacement in the same call"
    assert pool.slots[0].restarts == 8


def test_a_worker_that_dies_before_ready_is_held_back_longer_each_time(pool: WorkerPool) -> None:
    delays = []
    for failures in range(1, 8):
        slot = _kill_and_reap(pool)
        assert len(slot.start_failures) == failures
        if slot.alive:  # restarted in the same reap: no delay
            delays.append(0.0)
        else:
            delays.append(slot.restart_at - slot.start_failures[-1])  # type: ignore[operator]
            pool.reap()
            assert not slot.alive, "a held-back slot must not restart before its time"
            slot.restart_at = 0.0  # the back-off is over: let the next reap restart it
            pool.reap()
        wait_until(lambda: pool.slots[0].alive, timeout_s=10, message="replacement started")
    assert delays[0] == 0.0
    assert delays == sorted(delays) and delays[-1] == RESTART_BACKOFF_MAX_S


def test_dying_after_ready_forgets_earlier_start_failures(pool: WorkerPool) -> None:
    for _ in range(4):
        slot = _kill_and_reap(pool)
        slot.restart_at = 0.0
        pool.reap()
    assert len(pool.slots[0].start_failures) == 4
    pool.slots[0].ready = True
    slot = _kill_and_reap(pool)
    assert slot.start_failures == [] and slot.alive


@given(st.integers(-3, 40))
def test_restart_delay_grows_from_zero_to_its_cap(failures: int) -> None:
    delay = restart_delay(failures)
    assert 0.0 <= delay <= RESTART_BACKOFF_MAX_S
    assert (delay == 0.0) == (failures <= 1)
    assert restart_delay(failures + 1) >= delay
