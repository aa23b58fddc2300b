"""Snapshots written by a forked child, so a big space's snapshot does not stall the other spaces of its worker.

Why: writing a snapshot takes about 0.7 s per 100k memories (docs/storage.md), and the worker's loop serves every
space it owns one batch at a time. Written in the loop, one busy space's periodic snapshot held up every other
space of the worker for that long: under bench/fairness.py's noisy neighbour, the quiet spaces that shared the
noisy space's worker had a p99 several times that of the others. A tenant must not slow another down.

How: the loop cuts the space's log (``Space.begin_snapshot``: the log is synced and later appends go to a new
segment), then forks. The child's memory is the space exactly as of the cut, frozen by copy-on-write while the
parent keeps serving and appending; the child writes the snapshot with the same code as a synchronous one
(``Space.write_snapshot``), deletes what it makes redundant, and exits. The loop reaps it between batches and only
then moves the space's "log tail since the last snapshot" forward (``Space.snapshot_written``). This is how Redis
writes its RDB files.

Safety:
- The child touches only files: it never uses the ZeroMQ sockets it inherited and leaves with ``os._exit``, so
  no finalizer of the parent's objects runs in it. It dies with the worker (PR_SET_PDEATHSIG), so no orphan keeps
  writing into a directory a restarted worker owns; a half-written snapshot is a ``.tmp`` directory that the next
  open sweeps away, and the log still holds everything.
- The child gets only this space's columns: the other spaces' arrays are left out of every fork, so the fork's
  pause does not grow with the spaces the worker holds (workers/columns.py). It must not read another space.
- A failed child changes nothing the parent relies on: the log was cut, not truncated. The snapshot is tried
  again after ``RETRY_AFTER_FAILURE_S``.
- One child per worker at a time (the loop's other due spaces wait their turn), run at ``CHILD_NICENESS`` so
  serving keeps the CPU. Anything that closes, reopens, exports or snapshots the space synchronously first waits
  for its child (``wait``), so two writers never pick the same generation.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import time
from dataclasses import dataclass
from typing import NoReturn

from workers.parent_death import die_with_parent
from workers.space import SnapshotCut, Space

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE_S = 30.0
CHILD_NICENESS = 10
"""The child yields the CPU to the worker's serving: a snapshot that finishes later only means a longer replay if
the worker dies meanwhile."""


def snapshot_due(tail_bytes: int, stored_bytes: int, wal_bytes: int, growth_ratio: float) -> bool:
    """Whether a space whose log grew ``tail_bytes`` since its last snapshot is due for a new one: past
    ``snapshot_wal_bytes`` (``wal_bytes``; 0 turns periodic snapshots off) and past ``snapshot_growth_ratio`` of its
    ``stored_bytes``, so a snapshot, which rewrites the whole space, costs a bounded share of what was logged."""
    return wal_bytes > 0 and tail_bytes >= max(wal_bytes, growth_ratio * stored_bytes)


@dataclass
class _Child:
    pid: int
    space: Space
    cut: SnapshotCut
    started: float


class BackgroundSnapshots:
    """The worker's snapshot children: at most one at a time, reaped by the loop between batches."""

    def __init__(self) -> None:
        self._children: dict[str, _Child] = {}
        self._retry_at: dict[str, float] = {}

    def running(self, space_id: str) -> bool:
        return space_id in self._children

    @property
    def writing(self) -> bool:
        """A child is writing a snapshot: its dirty pages are on the data root's filesystem until it fsyncs them,
        so a ``syncfs`` would wait for them (workers/durability.py)."""
        return bool(self._children)

    def may_start(self, space_id: str, now: float) -> bool:
        """No child is running (for any space) and the space's last failure, if any, is old enough."""
        return not self._children and now >= self._retry_at.get(space_id, 0.0)

    def start(self, space_id: str, space: Space) -> int | None:
        """Cut the space's log and fork a child that writes the snapshot; its pid, or None when nothing was logged
        since the last snapshot. Raises OSError if the log could not be cut, or the kernel would not let the child have
        the space's columns (then no child was started)."""
        parent = os.getpid()
        with space.inherited_by_fork():  # every other space's columns stay out of the child (workers/columns.py)
            cut = space.begin_snapshot()
            if cut is None:
                return None
            pid = os.fork()
            if pid == 0:
                _write_and_exit(space, cut, parent)
        self._children[space_id] = _Child(pid, space, cut, time.monotonic())
        return pid

    def reap(self) -> list[str]:
        """Finish the children that have ended (never blocks); the spaces whose snapshot is now on disk."""
        done = []
        for space_id, child in list(self._children.items()):
            pid, status = os.waitpid(child.pid, os.WNOHANG)
            if pid != 0 and self._finish(space_id, child, status):
                done.append(space_id)
        return done

    def wait(self, space_id: str) -> None:
        """Block until the space's child (if any) has ended, and finish it."""
        child = self._children.get(space_id)
        if child is not None:
            _, status = os.waitpid(child.pid, 0)
            self._finish(space_id, child, status)

    def wait_all(self) -> None:
        for space_id in list(self._children):
            self.wait(space_id)

    def forget(self, space_id: str) -> None:
        """The space is gone (deleted): no retry schedule to keep."""
        self._retry_at.pop(space_id, None)

    def _finish(self, space_id: str, child: _Child, status: int) -> bool:
        del self._children[space_id]
        code = os.waitstatus_to_exitcode(status)
        elapsed = time.monotonic() - child.started
        if code == 0:
            child.space.snapshot_written(child.cut)
            self._retry_at.pop(space_id, None)
            log.debug("snapshot child %d of space %s finished in %.3f s", child.pid, space_id, elapsed)
            return True
        self._retry_at[space_id] = time.monotonic() + RETRY_AFTER_FAILURE_S
        how = f"was killed by signal {-code}" if code < 0 else f"exited {code}"
        log.error("the snapshot child of space %s %s after %.3f s; its log is kept whole, retrying in %.0f s",
                  space_id, how, elapsed, RETRY_AFTER_FAILURE_S)  # fmt: skip
        return False


def _write_and_exit(space: Space, cut: SnapshotCut, parent: int) -> NoReturn:
    """In the child: write the snapshot and leave without running any of the parent's cleanup."""
    code = 1
    try:
        die_with_parent(signal.SIGKILL)
        if os.getppid() != parent:  # the worker died before prctl took effect: ``finally`` exits 1
            return
        gc.disable()  # a collection would touch (and so copy) every page of the parent's objects
        os.nice(CHILD_NICENESS)
        space.write_snapshot(cut)
        code = 0
    except BaseException:  # noqa: BLE001 - whatever happens (a failing log too), ``finally`` leaves the child
        log.exception("writing the snapshot of space %s failed", space.space_id)
    finally:
        os._exit(code)
