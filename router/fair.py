"""Fair sharing of a worker between its spaces: at most a few requests of one space are with the worker at once.

A worker answers its requests in batches, in arrival order. Without a limit, a space whose clients send as fast as
they can keeps as many requests queued at its worker as it has clients, and a request of a quiet space on the same
worker waits behind all of them, at every step (router, worker batch, reply). So the router lets at most
``space_inflight_limit`` (default 4) requests of one space be queued at or handled by its worker; the space's
further requests wait here, in order, and go on as its earlier ones are answered. Every other space passes them.
Measured on two cores (quiet spaces at 80 requests/s beside one space with 32 closed-loop REST clients): the quiet
spaces' median went from 23 ms without the limit to 13.7 ms with it (4.6 ms alone). With 8 noisy clients a limit
of 4 changed little (quiet p99 2.2-2.7x its solo value; what is left is the CPU the noisy space takes), and a limit
of 1 brought it to 1.6-2.0x but cut the busy space's own throughput by a third (450-480 against 670-710 requests/s),
so 4 is the default and operators who favour quiet spaces can lower it.

A busy space loses little by it: its requests still reach the worker back to back (the next one is sent as soon as
one is answered) and batches still carry up to the limit of its writes under one fsync. The order of one space's
requests is kept: once one waits, every later one of that space waits behind it, whatever its op. A request that
waits longer than the router's worker wait is answered 503, as if its worker were down.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

Item = TypeVar("Item")


class SpaceGate(Generic[Item]):
    """Counts each space's requests admitted to its worker and holds the ones beyond ``limit`` (0: no limit), or
    sooner than a paced space's rate allows (router/pacing.py)."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._admitted: dict[str, int] = {}
        self._waiting: dict[str, deque[tuple[float, Item]]] = {}
        self._interval: dict[str, float] = {}  # paced spaces: seconds between two admissions
        self._next_turn: dict[str, float] = {}  # paced spaces: the earliest time of their next admission

    def admit(self, space: str) -> bool:
        """True (and counted) when a request of ``space`` may go to its worker now; False: ``hold`` it."""
        if space in self._waiting or not self._has_room(space) or not self._take_turn(space, self._clock()):
            return False
        self._admitted[space] = self._admitted.get(space, 0) + 1
        return True

    def hold(self, space: str, deadline: float, item: Item) -> None:
        """Keep a request that was not admitted until its space's turn, or until ``deadline``."""
        self._waiting.setdefault(space, deque()).append((deadline, item))

    def release(self, space: str) -> Item | None:
        """A request of ``space`` was answered (or failed): the next one waiting, now admitted in its place (None
        when none waits, or when its space's pace makes it wait longer: ``due`` admits it then)."""
        waiting = self._waiting.get(space)
        if waiting and self._take_turn(space, self._clock()):
            _deadline, item = waiting.popleft()
            if not waiting:
                del self._waiting[space]
            return item
        count = self._admitted.get(space, 0) - 1
        if count > 0:
            self._admitted[space] = count
        else:
            self._admitted.pop(space, None)
        return None

    def pace(self, space: str, rate: float | None) -> None:
        """Admit ``space``'s requests at most ``rate`` a second from now on (None: as fast as they come)."""
        if rate is None:
            self._interval.pop(space, None)
            self._next_turn.pop(space, None)
        else:
            self._interval[space] = 1.0 / rate

    def is_paced(self, space: str) -> bool:
        return space in self._interval

    def due(self) -> Iterator[Item]:
        """Remove, admit and yield the waiting requests whose turn came: a paced space's next request once its
        time is up, and any request its space has room for (a pace just ended)."""
        now = self._clock()
        for space in list(self._waiting):
            waiting = self._waiting[space]
            while waiting and self._has_room(space) and self._take_turn(space, now):
                self._admitted[space] = self._admitted.get(space, 0) + 1
                yield waiting.popleft()[1]
            if not waiting:
                del self._waiting[space]

    def next_turn(self) -> float | None:
        """The earliest time a waiting request of a paced space may be admitted (None: no such request, or its
        space is at its limit, so an answer admits it: the router need not wake up for it)."""
        turns = [
            self._next_turn.get(space, 0.0)
            for space in self._waiting
            if space in self._interval and self._has_room(space)
        ]
        return min(turns) if turns else None

    def waiting_of(self, space: str) -> int:
        """Requests of ``space`` waiting for their turn."""
        return len(self._waiting.get(space, ()))

    def _has_room(self, space: str) -> bool:
        return self._limit <= 0 or self._admitted.get(space, 0) < self._limit

    def _take_turn(self, space: str, now: float) -> bool:
        """Whether a paced space's next request may go now (and if so, its turn moves on); always, if unpaced. A
        space that was idle gets at most one interval of credit."""
        interval = self._interval.get(space)
        if interval is None:
            return True
        turn = self._next_turn.get(space, now)
        if now < turn:
            return False
        self._next_turn[space] = max(turn, now - interval) + interval
        return True

    def expired(self, now: float) -> Iterator[Item]:
        """Remove and yield the waiting requests whose deadline passed (each space's wait in arrival order)."""
        for space in [space for space, waiting in self._waiting.items() if waiting[0][0] <= now]:
            waiting = self._waiting[space]
            while waiting and waiting[0][0] <= now:
                yield waiting.popleft()[1]
            if not waiting:
                del self._waiting[space]

    def waiting(self) -> int:
        """Requests waiting for their space's turn, all spaces together."""
        return sum(len(waiting) for waiting in self._waiting.values())
