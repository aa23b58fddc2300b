"""Compaction of a space's index, the worker's side: decide what to build, hand it to the builder, swap it in.

Policy (size-tiered, like an LSM tree), at most one job per space at a time:

1. **Seal** the buffer into a new segment once it holds ``index_seal_rows`` live memories: the exact scan of the
   buffer grows with it, while a segment's query cost hardly grows (docs/index.md has the measured crossover).
2. **Merge** four segments of one size tier (tier = log4 of live rows / seal rows) into one, so a space of N
   memories has O(log N) segments and a query asks only a few of them. A merge is a new build from the live
   vectors, never ``NNDescent.update()`` (which reruns NN-descent over everything anyway) and it drops the
   deleted ones. Merges stop at ``MAX_SEGMENT_ROWS``, which bounds a build's time and memory and a load's stall.
3. **Dissolve** a segment whose live rows fell below half a seal: they go back to the exact buffer, cheaper
   than rebuilding a tiny index. A segment that is mostly dead but still large is rebuilt alone.

Nothing here blocks on the builder: ``Compactor.tick`` runs between batches of the worker loop, sends jobs,
collects finished ones and installs them (unpickling the segment: about 0.25 s at 100k, plus about 1-3 s for
the first segment a worker process loads, which imports pynndescent).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import msgspec
import numpy as np
import zmq
from zmq.utils.monitor import recv_monitor_message

from workers.builder import DONE_DECODER, JOB_ENCODER, BuildDone, BuildJob
from workers.index import SpaceIndex
from workers.segments import (
    MIN_SEGMENT_ROWS,
    Segment,
    SegmentInfo,
    load_segment,
    new_segment_name,
    remove_segment_files,
    save_array,
)

if TYPE_CHECKING:
    from workers.space import Space

log = logging.getLogger(__name__)

MERGE_FANOUT = 4
MAX_SEGMENT_ROWS = 262_144
"""About a minute to build on one thread and about 1 s to load; bounds the builder's transient memory too."""
DEAD_SHARE_TO_REBUILD = 0.5
CHECK_INTERVAL_S = 0.25
JOB_TIMEOUT_S = 1800.0
"""A job unanswered this long is given up and planned again (the builder restarting is noticed sooner, by the
socket's disconnect event). Generous: jobs queue behind every other space's at the single builder."""
RETRY_AFTER_FAILURE_S = 30.0


class Plan(NamedTuple):
    """A build to run: a seal of the buffer (no sources) or a merge of ``sources``."""

    sources: list[Segment]


@dataclass
class PendingJob:
    """A job sent to the builder: what to install when it is done."""

    job_id: int
    name: str
    sources: list[str]
    serials: np.ndarray
    watermark: int  # the serial up to which a seal covers the buffer (0 for a merge)
    sent_at: float = field(default_factory=time.monotonic)


def plan(index: SpaceIndex, seal_rows: int) -> Plan | None:
    """What the space's index should build next, if anything (dissolving tiny segments on the way)."""
    seal_rows = max(seal_rows, MIN_SEGMENT_ROWS)
    for segment in list(index.segments):
        if segment.live < max(seal_rows // 2, MIN_SEGMENT_ROWS):  # too small to build: back to the buffer
            log.info("dissolving segment %s of %s: %d of %d rows live", segment.name, index.hot_dir, segment.live,
                     segment.size)  # fmt: skip
            index.dissolve(segment)
    if index.buffer_count() >= seal_rows:
        return Plan([])
    for segment in index.segments:
        if segment.live < (1 - DEAD_SHARE_TO_REBUILD) * segment.size:
            return Plan([segment])
    tiers: dict[int, list[Segment]] = {}
    for segment in sorted(index.segments, key=lambda s: s.live):
        tiers.setdefault(_tier(segment.live, seal_rows), []).append(segment)
    for _, members in sorted(tiers.items()):
        group = members[:MERGE_FANOUT]
        if len(group) == MERGE_FANOUT and sum(s.live for s in group) <= MAX_SEGMENT_ROWS:
            return Plan(group)
    return None


def _tier(live: int, seal_rows: int) -> int:
    """floor(log4(live / seal_rows)), at least 0, in integers (a float log can land just below a whole tier)."""
    tier = 0
    while live >= seal_rows * MERGE_FANOUT ** (tier + 1):
        tier += 1
    return tier


def prepare(index: SpaceIndex, chosen: Plan, job_id: int) -> tuple[PendingJob, BuildJob]:
    """Write the job's input files into ``hot/`` and describe it; the caller sends the ``BuildJob``."""
    columns = index.columns
    name = new_segment_name(index.manifest.next_id)
    index.manifest.next_id += 1  # persisted with the next manifest; the name is unique without it anyway
    files_serials = index.hot_dir / f"{name}.serials.npy"
    if chosen.sources:
        rows = np.concatenate([index.rows_of(s.serials) for s in chosen.sources])
        watermark = 0
    else:
        start = index.buffer_start()
        tail = np.flatnonzero(columns.live[start : columns.rows]) + start
        rows = np.concatenate([index.orphan_rows(), tail])
        watermark = int(columns.serials[columns.rows - 1])
    rows = np.sort(rows)
    serials = columns.serials[rows].copy()
    try:
        if not chosen.sources:
            save_array(index.hot_dir / f"{name}.vectors.npy", columns.units[rows])
        save_array(files_serials, serials)
    except BaseException:
        remove_segment_files(index.hot_dir, name)
        raise
    sources = [s.name for s in chosen.sources]
    return PendingJob(job_id, name, sources, serials, watermark), BuildJob(job_id, str(index.hot_dir), name, sources)


def install(index: SpaceIndex, job: PendingJob, done: BuildDone) -> None:
    """Load the finished segment and swap it in; its sources' files go once the manifest no longer lists them."""
    info = SegmentInfo(job.name, len(job.serials), int(job.serials[0]), int(job.serials[-1]), round(done.build_s, 3))
    segment = load_segment(index.hot_dir, info)
    for name in index.install(segment, job.sources, job.watermark):
        remove_segment_files(index.hot_dir, name)
    log.info("installed segment %s in %s: %d rows%s, built in %.2f s; %d segment(s), %d row(s) in the buffer",
             job.name, index.hot_dir, info.rows, f" merged from {len(job.sources)}" if job.sources else "",
             done.build_s, index.segment_count, index.buffer_count())  # fmt: skip


@dataclass
class _InFlight:
    space_id: str
    space: Space
    job: PendingJob


class _NothingDue(NamedTuple):
    """A space as it was when ``plan`` found nothing to build, to tell cheaply whether that can have changed."""

    space: int  # id() of the Space object: a reloaded space is planned afresh
    segments: int
    rows: int
    dead_rows: int
    buffered: int

    @classmethod
    def of(cls, space: Space) -> _NothingDue:
        columns = space.index.columns
        return cls(id(space), space.index.segment_count, columns.rows, columns.rows - columns.live_count,
                   space.index.buffer_count())  # fmt: skip

    def still_nothing_due(self, space: Space, seal_rows: int) -> bool:
        """True when only new live rows were added since, too few to fill a seal: then ``plan`` would still find
        nothing (no segment lost rows, so none is to dissolve or rebuild, and no merge can have become due)."""
        columns = space.index.columns
        return (
            id(space) == self.space
            and space.index.segment_count == self.segments
            and columns.rows - columns.live_count == self.dead_rows
            and self.buffered + (columns.rows - self.rows) < max(seal_rows, MIN_SEGMENT_ROWS)
        )


class Compactor:
    """The worker's client of the index builder. ``tick`` is called by the worker loop between batches."""

    def __init__(self, context: zmq.Context, endpoint: str, seal_rows: int) -> None:
        self.socket = context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(endpoint)
        self._monitor = self.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        self._seal_rows = seal_rows
        self._in_flight: dict[int, _InFlight] = {}
        self._busy: set[str] = set()
        self._retry_at: dict[str, float] = {}
        self._idle: dict[str, _NothingDue] = {}  # what each space looked like when nothing was due
        self._unchecked: dict[str, None] = {}  # spaces used or changed since their last check, oldest first
        self._next_job_id = 1
        self._next_check = 0.0

    def close(self) -> None:
        self.socket.disable_monitor()
        self._monitor.close()
        self.socket.close()

    def tick(self, spaces: dict[str, Space], readable: bool = True, touched: Iterable[str] = ()) -> None:
        """Install what the builder finished (``readable``: the loop's poll saw a reply waiting; reading when none
        is costs an exception per loop pass), then (at most every ``CHECK_INTERVAL_S``) send what is due.

        ``touched``: the spaces requests used since the previous call. Only those, spaces whose job ended and
        spaces whose retry time came are checked: a space nothing touched cannot have become due. Checking every
        loaded space took 2.8 ms per check with 1,000 of them, four times a second, all of it on the loop every
        space waits for."""
        self._unchecked.update(dict.fromkeys(touched))
        if readable:
            self._receive(spaces)
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + CHECK_INTERVAL_S
        self._notice_lost_jobs(now)
        for space_id, retry_at in list(self._retry_at.items()):
            if now >= retry_at:
                del self._retry_at[space_id]
                self._unchecked[space_id] = None
        unchecked, self._unchecked = self._unchecked, {}
        for space_id in unchecked:
            space = spaces.get(space_id)
            if space is not None and space_id not in self._busy and space_id not in self._retry_at:
                self._submit(space_id, space)

    def _submit(self, space_id: str, space: Space) -> None:
        idle = self._idle.get(space_id)
        if idle is not None and idle.still_nothing_due(space, self._seal_rows):
            return  # a worker may hold thousands of spaces: most checks must not plan
        try:
            chosen = plan(space.index, self._seal_rows)
            if chosen is None:
                self._idle[space_id] = _NothingDue.of(space)
                return
            job, message = prepare(space.index, chosen, self._next_job_id)
        except Exception:  # noqa: BLE001 - compaction must never take the worker (and its other spaces) down
            log.exception("cannot prepare an index build for space %s; retrying later", space_id)
            self._retry_at[space_id] = time.monotonic() + RETRY_AFTER_FAILURE_S
            return
        self._next_job_id += 1
        try:
            self.socket.send(JOB_ENCODER.encode(message), zmq.NOBLOCK)
        except zmq.Again:
            remove_segment_files(space.index.hot_dir, job.name)
            self._retry_at[space_id] = time.monotonic() + RETRY_AFTER_FAILURE_S
            return
        self._in_flight[job.job_id] = _InFlight(space_id, space, job)
        self._busy.add(space_id)
        log.info("sent %s of %d row(s) of space %s to the index builder as %s",
                 "a merge" if job.sources else "a seal", len(job.serials), space_id, job.name)  # fmt: skip

    def _receive(self, spaces: dict[str, Space]) -> None:
        while True:
            try:
                payload = self.socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                done = DONE_DECODER.decode(payload)
            except msgspec.DecodeError:
                log.error("ignoring a malformed reply from the index builder")
                continue
            flight = self._in_flight.pop(done.job_id, None)
            if flight is None or spaces.get(flight.space_id) is not flight.space:
                # Given up, or its space was reloaded meanwhile: the files are nobody's.
                remove_segment_files(Path(done.hot_dir), done.name)
                if flight is not None:
                    self._job_ended(flight.space_id)
                continue
            self._job_ended(flight.space_id)
            self._finish(flight, done)

    def _job_ended(self, space_id: str) -> None:
        """The space may have more to build (rows came meanwhile, or the job was lost): check it again."""
        self._busy.discard(space_id)
        self._unchecked[space_id] = None

    def _finish(self, flight: _InFlight, done: BuildDone) -> None:
        index = flight.space.index
        if done.ok:
            try:
                install(index, flight.job, done)
                return
            except Exception:  # noqa: BLE001 - a segment that cannot be installed is rebuilt later
                log.exception("installing segment %s of space %s failed", flight.job.name, flight.space_id)
        else:
            log.error("the index builder failed segment %s of space %s: %s", done.name, flight.space_id, done.error)
        remove_segment_files(index.hot_dir, flight.job.name)
        self._retry_at[flight.space_id] = time.monotonic() + RETRY_AFTER_FAILURE_S

    def _notice_lost_jobs(self, now: float) -> None:
        """Give up jobs the builder can no longer answer: it disconnected (died, restarted) or took too long."""
        disconnected = False
        while True:
            try:
                recv_monitor_message(self._monitor, zmq.NOBLOCK)
                disconnected = True
            except zmq.Again:
                break
        for job_id, flight in list(self._in_flight.items()):
            if disconnected or now - flight.job.sent_at > JOB_TIMEOUT_S:
                log.warning("index build %s of space %s was lost (%s); planning it again", flight.job.name,
                            flight.space_id, "builder disconnected" if disconnected else "timed out")  # fmt: skip
                del self._in_flight[job_id]
                self._job_ended(flight.space_id)
                remove_segment_files(flight.space.index.hot_dir, flight.job.name)
