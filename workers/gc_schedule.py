"""When a worker runs the garbage collector's full pass: on a schedule, between batches, not when CPython decides.

Why: a full pass stops the worker for a time that grows with every object it tracks, and a worker's objects grow
with the spaces it holds loaded (about 100 tracked objects per small space: its columns, index, metrics series,
paths). CPython starts one whenever the objects that survived into the oldest generation grew by a quarter since
the last, which, while a worker fills with spaces or its spaces with data, lands in the middle of serving: measured
in the evidence suite, one worker holding 1,200 spaces stopped for 204 ms over 143,000 objects in a noisy-neighbour
round, and that round's quiet p99 went from 8 to 71 ms. Every such pass collected nothing (0 objects; a worker's
data is freed by reference counting, and what it leaves in cycles is rare). So the automatic full pass is switched
off (its threshold is never reached) and the worker runs one itself every ``gc_full_pass_interval_s``, at a moment
no request is waiting, or regardless once it is a whole interval late (a worker never idle still collects). The
young generations are collected as before: they are small, and they catch the cycles a request leaves behind.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

NEVER = 2**31 - 1
"""An oldest-generation threshold no count reaches: CPython then never starts a full pass of its own."""


class FullPassSchedule:
    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        """``interval_s`` 0 leaves CPython's own full passes on and schedules none."""
        self._interval_s = interval_s
        self._clock = clock
        self._next = clock() + interval_s
        if interval_s > 0:
            young, middle, _ = gc.get_threshold()
            gc.set_threshold(young, middle, NEVER)

    @property
    def enabled(self) -> bool:
        return self._interval_s > 0

    def due(self, idle: Callable[[], bool]) -> bool:
        """A pass is due: the interval is over and ``idle()`` (asked only then), or a whole interval more has gone."""
        if not self.enabled:
            return False
        late = self._clock() - self._next
        return late >= 0 and (late >= self._interval_s or idle())

    def run(self) -> float:
        """Run the full pass now; returns how long it stopped the worker (s)."""
        started = self._clock()
        collected = gc.collect()
        stopped = self._clock() - started
        self._next = self._clock() + self._interval_s
        log.info("scheduled full garbage collection: %.1f ms, %d object(s) collected", stopped * 1000, collected)
        return stopped
