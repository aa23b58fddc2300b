"""What the whole machine did during a measurement: its busy share, and the share the hypervisor took (steal).

Why: the benchmarks run on shared 2-core virtual machines, where the host sometimes takes part of the CPU away
for a second or two. Every process is slow then, and a phase that falls on it reads as a cost of what it measured
(a probe of the noisy-neighbour rounds: docs/testing/memory_spaces.md). So each phase records these figures beside
its own, and a reader can tell a slow machine from a slow server.

``MachineWatch`` reads ``/proc/stat`` every ``SAMPLE_S`` in a thread while a phase runs (a phase's mean hides a
one-second burst) and keeps the phase's shares and its worst sample's steal. Where ``/proc/stat`` cannot be read
(not Linux), the figures are None.
"""

from __future__ import annotations

import threading
from types import TracebackType

from router.pacing import read_cpu_times as read_some_cpu_times

SAMPLE_S = 0.25
PROC_STAT = "/proc/stat"


def read_cpu_times(path: str = PROC_STAT) -> list[int] | None:
    """The machine's CPU times (user, nice, system, idle, iowait, irq, softirq, steal), in clock ticks; None
    where /proc/stat cannot be read or has no steal field (read as the router's pacer reads it)."""
    fields = read_some_cpu_times(path)
    return fields if fields is not None and len(fields) == 8 else None


def shares(before: list[int], after: list[int]) -> tuple[float, float] | None:
    """(busy, steal) shares of the time between two readings; busy is all but idle and iowait (steal included:
    the processes waited for it too). None when no time passed."""
    spent = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(spent)
    if total <= 0:
        return None
    return (total - spent[3] - spent[4]) / total, spent[7] / total


class MachineWatch:
    """Context manager: the machine's busy and steal shares over the block, and the worst steal of any
    ``SAMPLE_S`` in it (``figures()``)."""

    def __init__(self, path: str = PROC_STAT, sample_s: float = SAMPLE_S) -> None:
        self._path = path
        self._sample_s = sample_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="machine-watch", daemon=True)
        self._first: list[int] | None = None
        self._last: list[int] | None = None
        self._worst_steal: float | None = None

    def __enter__(self) -> MachineWatch:
        self._first = self._last = read_cpu_times(self._path)
        if self._first is not None:
            self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._take_sample()

    def _sample(self) -> None:
        while not self._stop.wait(self._sample_s):
            self._take_sample()

    def _take_sample(self) -> None:
        now = read_cpu_times(self._path)
        if now is None or self._last is None:
            return
        sample = shares(self._last, now)
        self._last = now
        if sample is not None and (self._worst_steal is None or sample[1] > self._worst_steal):
            self._worst_steal = sample[1]

    def figures(self) -> dict[str, float | None]:
        """``busy`` and ``steal`` shares over the whole block, ``worst_steal`` of one sample (None: unknown)."""
        whole = shares(self._first, self._last) if self._first is not None and self._last is not None else None
        return {
            "busy": round(whole[0], 3) if whole else None,
            "steal": round(whole[1], 4) if whole else None,
            "worst_steal": round(self._worst_steal, 3) if self._worst_steal is not None else None,
        }


def busy_text(figures: dict | None) -> str:
    """A phase's busy share as a table cell or console word; "-" where it was not measured."""
    return "-" if not figures or figures.get("busy") is None else f"{figures['busy']:.0%}"


def steal_text(figures: dict | None) -> str:
    """A phase's steal share and its worst sample, e.g. "1.2% (17%)": a phase that fell on a slow spell of the
    shared machine shows here; "-" where it was not measured."""
    if not figures or figures.get("steal") is None:
        return "-"
    return f"{figures['steal']:.1%} ({figures.get('worst_steal') or 0:.0%})"
