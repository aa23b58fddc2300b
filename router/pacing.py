"""Pacing a space that takes the machine from the others: the router's answer to a noisy neighbour on few cores.

The space gate (router/fair.py) keeps a busy space from queueing ahead of quiet spaces at their worker, but a space
whose clients send as fast as they are answered still takes every core: its HTTP parsing, routing, worker time and
replies. The quiet spaces' requests then wait for the CPU at every process they pass (measured on 2 cores: quiet
spaces at 80 requests/s had a p99 2-3x their solo p99 beside one space at 700 requests/s; beside the same space
held to 200 requests/s, 1.2-1.45x). Only a lower request rate of the busy space gives the CPU back.

So the router reads the machine's CPU use (/proc/stat) every ``TICK_S`` and counts each space's requests. When the
machine is busier than ``pacing_cpu_target`` and more than one space is active, a space that sends most of the
requests (a *hog*: at least ``MIN_HOG_RPS``, more than ``HOG_SHARE`` of the tick's requests and more than twice
an even share of them) is paced: the gate
lets its requests through no faster than a rate, which follows the CPU: each tick it is multiplied by
target / busy (at least ``MIN_CUT``, at most ``MAX_RAISE``; at least halved on a saturated machine, whose busy share
hides how much is wanted), and kept within ``DEADBAND`` under the target. A paced space
loses no request: the gate holds them, in order, and a closed-loop client simply waits a little longer for each
answer. The pace ends when the space is alone again (a space alone may use the whole machine), when its share is
no longer twice an even one, when it sends much less than its pace allows, or when it is nearly idle.

A pace that ended because its space went idle or was alone is remembered for ``RESUME_S``: if the space comes back
while other spaces are active, its pace resumes as soon as it sends a few requests in one tick. Without it, a space
that sends in bursts ran unpaced at the start of each burst until two or three ticks had cut it down again, and
those first few hundred milliseconds held most of a quiet neighbour's slowest requests (bench/fairness.py: 19 of
the 24 requests in the quiet spaces' top 1%, over five bursts, came in a burst's first second). A resumed pace that
the machine no longer needs is raised or ended by the next tick, like any other.

This is not work-conserving on purpose: to keep the quiet spaces' latency, the machine keeps some CPU idle while
they are active. ``pacing_cpu_target = 0`` turns pacing off; 1.0 paces only a machine that is fully busy.
"""

from __future__ import annotations

import math
from collections.abc import Callable

TICK_S = 0.25  # how often the CPU is read and the paces adjusted
ACTIVE_S = 1.0  # a space that sent a request within this long counts as active
MIN_HOG_RPS = 50.0  # a space sending fewer requests a second is never paced
HOG_SHARE = 1 / 3  # nor one sending no more than this share of the requests (a tick where load moves between spaces)
MIN_PACE_RPS = 20.0  # the slowest pace: a paced space always gets this much
MAX_RAISE = 2.0  # a tick raises a pace by target / busy, at most this factor
DEADBAND = 0.05  # between target - DEADBAND and target the paces are kept as they are
SATURATED = 0.95  # at or above this busy share the CPU hides how much is wanted: cut by at least half
MIN_CUT = 0.25  # a tick never cuts a pace to less than this share of the space's rate
UNUSED = 0.5  # a paced space that used less than this share of its pace is let go
RESUME_S = 30.0  # a pace ended by idleness or solitude is resumed if its space returns beside others within this long
RESUME_COUNT = 5  # ... once it sent this many requests in one tick (a space that only trickles is not paced again)


def read_cpu_times(path: str = "/proc/stat") -> list[int] | None:
    """The machine's CPU times from the first line of /proc/stat, in clock ticks: user, nice, system, idle,
    iowait, irq, softirq, steal (as many of them as the kernel gives); None where it cannot be read."""
    try:
        with open(path, "rb") as stat:
            return [int(value) for value in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None


class CpuMeter:
    """The share of the machine's CPU time that was busy between two readings of /proc/stat (all cores).

    Busy is everything but idle and iowait, so niced processes (and other programs on the machine) count: the
    quiet spaces wait for whatever takes the CPU. ``busy()`` is None where /proc/stat cannot be read."""

    def __init__(self, path: str = "/proc/stat") -> None:
        self._path = path
        self._last = self._read()

    def _read(self) -> tuple[int, int] | None:
        fields = read_cpu_times(self._path)
        if fields is None or len(fields) < 5:
            return None
        idle = fields[3] + fields[4]  # idle, iowait
        return sum(fields) - idle, sum(fields)

    def busy(self) -> float | None:
        now = self._read()
        last, self._last = self._last, now
        if now is None or last is None or now[1] <= last[1]:
            return None
        return min(1.0, max(0.0, (now[0] - last[0]) / (now[1] - last[1])))


class Pacer:
    """Counts each space's requests and, once a tick, decides which spaces are paced and at what rate.

    ``tick`` returns the changes: space -> requests a second, or None for a space no longer paced. The decisions
    are in ``decide``, which takes the busy share and the counts, so it can be tested without a CPU to load."""

    def __init__(self, cpu_target: float, busy: Callable[[], float | None], now: float) -> None:
        self.cpu_target = cpu_target
        self._busy = busy
        self._counts: dict[str, int] = {}
        self._seen: dict[str, float] = {}  # space -> when it last sent a request (within ACTIVE_S)
        self.rates: dict[str, float] = {}  # paced spaces and their rates (requests a second)
        self._resumable: dict[str, tuple[float, float]] = {}  # space -> (its last pace, when it ended): see count
        self._ticked = now

    @property
    def enabled(self) -> bool:
        return self.cpu_target > 0

    def count(self, space: str, now: float) -> float | None:
        """A request of ``space`` arrived. Returns the pace it resumes now, if any (module docstring): its pace ended
        within ``RESUME_S`` because it went idle or was alone, it sent ``RESUME_COUNT`` requests this tick, and
        another space is active now."""
        sent = self._counts[space] = self._counts.get(space, 0) + 1
        remembered = self._resumable.get(space)
        if remembered is None or sent < RESUME_COUNT:
            return None
        rate, ended = remembered
        if now - ended > RESUME_S:
            del self._resumable[space]
            return None
        if not self._has_company(space, now):
            return None  # kept: company may come while it sends
        del self._resumable[space]
        self.rates[space] = rate
        return rate

    def _has_company(self, space: str, now: float) -> bool:
        """Whether a space other than ``space`` sent a request this tick or within ``ACTIVE_S``."""
        return any(other != space for other in self._counts) or any(
            other != space and now - seen <= ACTIVE_S for other, seen in self._seen.items()
        )

    def tick(self, now: float) -> dict[str, float | None]:
        """Every ``TICK_S``: read the CPU and return the paces that change (empty between ticks)."""
        elapsed = now - self._ticked
        if elapsed < TICK_S:
            return {}
        counts, self._counts, self._ticked = self._counts, {}, now
        return self.decide(self._busy(), counts, elapsed, now)

    def decide(self, busy: float | None, counts: dict[str, int], elapsed: float, now: float) -> dict[str, float | None]:
        """The changes of pace after ``elapsed`` seconds in which the machine was ``busy`` and the spaces sent
        ``counts`` requests. Shares are of this tick's requests, among the spaces that sent some; company is any
        other space active within ``ACTIVE_S`` (a quiet space may send less than once a tick)."""
        for space in counts:
            self._seen[space] = now
        if len(self._seen) > len(counts):
            self._seen = {space: seen for space, seen in self._seen.items() if now - seen <= ACTIVE_S}
        company = len(self._seen) >= 2
        total = sum(counts.values())
        changes: dict[str, float | None] = {}
        if self._resumable:
            self._resumable = {space: kept for space, kept in self._resumable.items() if now - kept[1] <= RESUME_S}
        for space, rate in list(self.rates.items()):
            idle = counts.get(space, 0) / elapsed < MIN_PACE_RPS / 2
            if busy is None or not company or idle or self._let_go(space, rate, busy, counts, total, elapsed):
                changes[space] = None
                del self.rates[space]
                if busy is not None and (idle or not company):
                    self._resumable[space] = (rate, now)
        if busy is None or not company:
            return changes
        if busy > self.cpu_target:
            cut = max(MIN_CUT, self.cpu_target / busy)
            if busy >= SATURATED:
                cut = min(cut, 0.5)
            hog_above = total * max(HOG_SHARE, _twice_even(counts))  # requests this tick that make a hog
            for space, count in counts.items():
                used = count / elapsed
                if space in self.rates or (used >= MIN_HOG_RPS and count > hog_above):
                    rate = max(MIN_PACE_RPS, min(self.rates.get(space, math.inf), used) * cut)
                    self.rates[space] = changes[space] = rate
        elif busy < self.cpu_target - DEADBAND:
            raise_by = min(MAX_RAISE, self.cpu_target / max(busy, 0.01))
            for space, rate in self.rates.items():
                self.rates[space] = changes[space] = rate * raise_by
        return changes

    def _let_go(self, space: str, rate: float, busy: float, counts: dict[str, int], total: int, elapsed: float) -> bool:
        """A busy paced space (one that is not nearly idle) is let go when it is no hog by its share any more (when
        others sent too; HOG_SHARE is not asked again, which keeps a pace from flapping), or leaves most of its
        pace unused on a machine under the target. Such a pace is not resumed: the machine does not need it."""
        count = counts.get(space, 0)
        used = count / elapsed
        no_hog = len(counts) >= 2 and count <= total * _twice_even(counts)
        return no_hog or (busy < self.cpu_target and used < rate * UNUSED)


def _twice_even(counts: dict[str, int]) -> float:
    """Twice an even share of the requests, with one more space counted so that two spaces of equal load are not
    hogs of each other (2/3 for two spaces, 2/11 for ten)."""
    return 2 / (len(counts) + 1)
