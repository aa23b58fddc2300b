"""A worker's metrics: each space's memories, stored bytes and log bytes to replay, WAL fsync latency and lag, quota
rejections; the worker's resident spaces and offloads.

Every series is labelled with the ``memory_space`` label the router chose (``Placement.metric_label``), so a space
past ``max_metric_spaces`` is counted under "_other" here too. Several spaces of one worker can share "_other", so
the gauges are kept as per-label totals of this worker's spaces (``set`` on a shared label would keep only the last
space's figure); the multiprocess mode "livesum" then adds the workers' totals, and a space's own label, held by
one worker only, shows exactly its figure.

Figures are taken after each request that reached a loaded space, and when its background snapshot ended (the
log to replay then shrinks), so they are as fresh as the last change. An
offloaded space keeps its last figures (its data is still there); a deleted one is taken out. A restarted worker
reports a space again once a request loads it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from engram import metrics
from engram import protocol as p
from engram.errors import EngramError
from workers import quotas, status

if TYPE_CHECKING:
    from workers.space import Space


class WorkerMetrics:
    def __init__(self) -> None:
        self._labels: dict[str, str] = {}  # space id: its memory_space label, as the router last sent it
        self._figures: dict[str, tuple[int, int, int]] = {}  # space id: (memories, stored bytes, log tail bytes)
        self._totals: dict[str, list[int]] = {}  # label: the same three, over this worker's spaces
        self._resident = -1  # spaces loaded, as last reported
        self._lagging: set[str] = set()  # labels whose WAL lag was last set above 0
        self._children: dict[str, tuple] = {}  # label: its series of the gauges _report sets, and of WAL_FSYNC

    def label_of(self, space_id: str) -> str:
        return self._labels.get(space_id, metrics.OTHER_SPACE)

    def after_request(self, space_id: str | None, placement: p.Placement, space: Space | None) -> None:
        """Take the label the router sent and, when the space is loaded, its current figures."""
        if space_id is None or not placement.exists:
            return
        label = placement.metric_label or space_id
        previous = self._labels.get(space_id)
        if previous is not None and previous != label:  # the router relabelled it (not expected): move it over
            self.forget(space_id)
        if previous != label:
            self._labels[space_id] = label
            metrics.WAL_LAG.labels(label).set(0.0)  # the series exists from the first request on
        if space is not None:
            self.refresh(space_id, space)

    def refresh(self, space_id: str, space: Space) -> None:
        """Report a loaded space's figures now (after a request, or once its background snapshot ended)."""
        label = self._labels.get(space_id)
        if label is not None:
            self._report(space_id, label, space.count, quotas.stored_bytes(space), space.wal_bytes_since_snapshot)

    def resident(self, worker_id: int, loaded: int) -> None:
        """The number of spaces the worker holds loaded (set only when it changed)."""
        if loaded != self._resident:
            self._resident = loaded
            metrics.RESIDENT_SPACES.labels(str(worker_id)).set(loaded)

    def offloaded(self, worker_id: int) -> None:
        metrics.OFFLOADS.labels(str(worker_id)).inc()

    def gc_full_pass(self, worker_id: int, seconds: float) -> None:
        metrics.GC_FULL_PASSES.labels(str(worker_id)).observe(seconds)

    def forget(self, space_id: str) -> None:
        """The space was deleted: take its figures out of its label's totals."""
        label = self._labels.pop(space_id, None)
        if label is not None:
            self._report(space_id, label, 0, 0, 0)
            self._figures.pop(space_id, None)

    def remember_checked(self, space_id: str, policy: p.SpacePolicy, space: Space, memories: list[p.MemoryIn]) -> None:
        """``quotas.check_remember``, counting a rejection under the quota that refused it."""
        try:
            quotas.check_remember(space_id, policy, space, memories)
        except EngramError:
            over_count = policy.max_memories is not None and (
                space.count + quotas.new_memories(space, memories) > policy.max_memories
            )
            quota = "max_memories" if over_count else "max_bytes"
            metrics.QUOTA_REJECTIONS.labels(self.label_of(space_id), quota).inc()
            raise

    @contextmanager
    def fsync(self, space_ids: Iterable[str]) -> Iterator[None]:
        """Time one sync of the spaces' logs, counted once for each space (a failed one too: its time is what a
        client waited; the logs of one batch are synced together, workers/durability.py)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            for space_id in space_ids:
                self._series(self.label_of(space_id))[3].observe(elapsed)

    def wal_lag(self, unsynced: dict[str, float], policies: dict[str, p.SpacePolicy], now_monotonic: float) -> None:
        """Set each label's WAL lag: the oldest unsynced write of its spaces here ("interval" spaces), else 0.
        ``unsynced`` is the loop's fsync deadline per space (workers/status.py explains the arithmetic)."""
        if not unsynced and not self._lagging:
            return
        lag: dict[str, float] = {}
        for space_id, deadline in unsynced.items():
            policy = policies.get(space_id)
            lag_ms = status.wal_lag_ms(policy, deadline, now_monotonic) if policy is not None else None
            label = self.label_of(space_id)
            lag[label] = max(lag.get(label, 0.0), (lag_ms or 0.0) / 1000.0)
        for label in self._lagging - lag.keys():
            metrics.WAL_LAG.labels(label).set(0.0)
        for label, seconds in lag.items():
            metrics.WAL_LAG.labels(label).set(seconds)
        self._lagging = set(lag)

    def _report(self, space_id: str, label: str, memories: int, stored: int, tail: int) -> None:
        figures = (memories, stored, tail)
        old = self._figures.get(space_id)
        if old == figures:
            return
        self._figures[space_id] = figures
        totals = self._totals.setdefault(label, [0, 0, 0])
        series = self._series(label)
        for index in range(3):
            change = figures[index] - (old[index] if old else 0)
            if change or old is None:
                totals[index] += change
                series[index].set(totals[index])

    def _series(self, label: str) -> tuple:
        """The label's series of MEMORIES, STORED_BYTES, WAL_REPLAY_BYTES and WAL_FSYNC, looked up once: each request
        sets some of them, and ``labels()`` costs more than the write itself."""
        series = self._children.get(label)
        if series is None:
            gauges = (metrics.MEMORIES, metrics.STORED_BYTES, metrics.WAL_REPLAY_BYTES, metrics.WAL_FSYNC)
            series = self._children[label] = tuple(gauge.labels(label) for gauge in gauges)
        return series
