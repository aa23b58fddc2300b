"""The worker process's one loop: receive a batch, apply it, fsync the logs it wrote, then reply.

Group commit falls out of the loop's shape: every message that arrived while the previous batch was being fsynced is
handled as the next batch, and the logs written in a batch are fsynced once for all of them (one ``syncfs`` when there
are several: workers/durability.py). Messages that arrive while a batch that must be fsynced is being handled join it
before its fsync, without any wait. An fsync costs this process 0.1-0.3 ms of CPU, as much as handling a remember (in
one process, batches of 1 cost 0.52 ms of CPU per remember and batches of 4 0.27 ms), and batches are small: with 4
REST clients the requests reach a worker one after another, 1.3-1.5 to a batch, of which about one in nine joined
this way. No reply leaves the
worker before the fsync of its batch, so a 2xx always means "in the log and on disk" (DESIGN §5), and a read never
reports data that could still vanish. When an fsync fails, the batch's writes to that space are answered with an
error and the space is dropped from memory, to be reloaded from what the disk really holds.

That is the "fsync" durability policy, every space's default. A space's policy comes with each request (the
router's ``Placement``): with "interval" its writes are answered at once and the space is fsynced at most every
``durability_interval_ms``, from the loop's poll timeout when no request comes; with "none" it is never fsynced
before a close (docs/durability.md). The same policy carries the space's quotas (workers/quotas.py).

Deleting a space closes it, renames its directory into the trash (engram/trash.py) and replies; a background
thread removes the trash entry. A compaction job still running for it finds another (or no) space under its id when
it finishes and is thrown away (workers/compaction.py matches finished jobs to the very ``Space`` object).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec
import zmq

from engram import protocol as p
from engram import trash
from engram.archive import read_manifest
from engram.config import Config
from engram.errors import EngramError, ErrorCode
from engram.events import EventsSince
from workers import archive, quotas, status, tiers
from workers.background_snapshot import BackgroundSnapshots, snapshot_due
from workers.compaction import Compactor
from workers.durability import BatchSync
from workers.event_log import EventLog, Pending, events_of
from workers.gc_schedule import FullPassSchedule
from workers.layout import store_policy
from workers.metrics import WorkerMetrics
from workers.parent_death import die_with_parent
from workers.residency import Residency, ResidencyLimits
from workers.space import Space

log = logging.getLogger(__name__)

MAX_BATCH = 256
POLL_INTERVAL_MS = 100
DEFAULT_POLICY = p.SpacePolicy()
SCHEDULED_CHECK_INTERVAL_S = 1.0
DEMOTE_CHECK_INTERVAL_S = 60.0
UPKEEP_RECHECK_S = 0.1
"""The next scheduled pass, instead of a second later, while work is left over: spaces due to be offloaded that
wait for a snapshot child or are past ``OFFLOAD_BUDGET_S``, or consolidation passes past
``CONSOLIDATION_BUDGET_S``."""
CONSOLIDATION_BUDGET_S = 0.005
"""Scheduled consolidation passes run in the loop, which every space of the worker waits for: about 0.3 ms for a
space of a few episodes (1 ms, and 2-3 ms under load, while its result was saved with fsyncs). Spaces written
together fall due together, 300 s later: 50 of them held the loop 61 ms at once. Passes stop once this much time
went, or as soon as a request is waiting (after one pass at least: see ``_requests_waiting``), and go on a moment
later."""
OFFLOAD_BUDGET_S = 0.005
"""Offloading runs in the loop too, and spaces written together go idle together: 44 spaces of a 100-space load
were closed in one pass, 11 ms in which the worker answered nothing. A pass stops offloading once this much time
went, or, past the spaces over ``max_resident_spaces``, as soon as a request is waiting; the rest follow
``UPKEEP_RECHECK_S`` later."""
OFFLOAD_SNAPSHOT_MIN_BYTES = 1024 * 1024
"""An offloaded (or closing) space is snapshotted first when its log tail since the last snapshot is at least this:
its next open then loads the snapshot instead of replaying the tail. Below it the snapshot buys nothing: opening a
768-dim space by replaying a 378 KiB tail took 2.5 ms and from a snapshot 2.9 ms; 946 KiB, 5.0 against 3.8 ms;
3.8 MiB, 18.7 against 8.5 ms (writing the snapshot: 7-14 ms). It costs the machine a fork and a child's writes and
fsyncs, and spaces go idle together: at 256 KiB, 100 spaces of the evidence's load piece were snapshotted back to
back for about 20 s, and the quiet spaces' p99 rose from about 10 to 16-17 ms meanwhile (docs/scaling.md)."""


@dataclass
class _Outcome:
    ticket: bytes
    request_id: int
    reply: bytes
    written_space: str | None = None  # set when the request wrote to this space and needs its fsync
    space: str | None = None
    events: list[Pending] | None = None  # published once the batch is acknowledged (workers/event_log.py)


class WorkerLoop:
    def __init__(
        self, worker_id: int, backend: str, config: Config, builder: str | None = None, events: str | None = None
    ) -> None:
        self.worker_id = worker_id
        self._events = EventLog(events)  # the router's XSUB endpoint for this worker's events
        self._backend_endpoint = backend
        self._builder_endpoint = builder  # the index builder (workers/builder.py); None: exact search only
        self._index_seal_rows = config.index_seal_rows
        self._root = Path(config.data_root)
        self._spaces: dict[str, Space] = {}
        self._stopping = False
        self._consolidation_interval_s = config.consolidation_interval_s
        self._next_scheduled_check = 0.0
        self._policies: dict[str, p.SpacePolicy] = {}  # each space's policy, as its latest request brought it
        self._stored_policies: dict[str, p.SpacePolicy] = {}  # the policy each space.json is known to hold
        self._unsynced: dict[str, float] = {}  # "interval" spaces written since their last fsync: fsync deadline
        self._to_prepare: dict[str, None] = {}  # spaces synced since the last idle moment, oldest first (_prepare_logs)
        self._undeletable: dict[str, str] = {}  # spaces whose delete could not move their directory: why
        # Spaces requests used since the compactor's last tick, and those that may be due for a snapshot or a
        # consolidation pass (used since last found not due). Only a used space can have become due, and scanning
        # every loaded space took 3.5 ms a second (and the compactor 2.8 ms four times a second) with 1,000 of
        # them loaded, on the loop every space waits for.
        self._touched: dict[str, None] = {}
        self._snapshot_candidates: dict[str, None] = {}
        self._consolidation_candidates: dict[str, None] = {}
        self._snapshot_wal_bytes = config.snapshot_wal_bytes
        self._snapshot_growth_ratio = config.snapshot_growth_ratio
        self._residency = Residency(
            ResidencyLimits(config.idle_offload_s, config.max_resident_spaces, config.warm_after_s, config.cold_after_s)
        )
        self._next_demote_check = 0.0
        self._metrics = WorkerMetrics()
        self._batch_sync = BatchSync(self._root, sync_overwrites=config.sync_overwrites)
        self._background = BackgroundSnapshots()
        self._requests_waiting: Callable[[], bool] = lambda: False  # the backend socket's, once ``run`` opened it
        self._gc_interval_s = config.gc_full_pass_interval_s
        self._full_gc: FullPassSchedule | None = None  # set by ``run``: it changes the process's collector

    def run(self) -> None:
        parent = os.getppid()
        _die_with_parent()
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the router stops us in order
        context = zmq.Context()
        socket = context.socket(zmq.DEALER)
        socket.setsockopt(zmq.IDENTITY, f"w{self.worker_id}".encode())
        socket.setsockopt(zmq.LINGER, 2000)
        socket.connect(self._backend_endpoint)
        self._events.open(context)
        socket.send_multipart([b"", p.ENCODER.encode(p.WorkerReady(self.worker_id, os.getpid()))])
        poller = zmq.Poller()
        poller.register(socket, zmq.POLLIN)
        compactor = None
        if self._builder_endpoint:
            compactor = Compactor(context, self._builder_endpoint, self._index_seal_rows)
            poller.register(compactor.socket, zmq.POLLIN)  # a finished segment wakes the loop to swap it in
        arrived = functools.partial(_received, socket)
        self._requests_waiting = functools.partial(_readable, socket)
        self._full_gc = FullPassSchedule(self._gc_interval_s)
        try:
            while not self._stopping:
                self._run_scheduled_work()
                self._collect_garbage_if_due()
                ready = dict(poller.poll(self._poll_timeout_ms()))
                touched, self._touched = self._touched, {}  # taken each pass: without a builder nobody reads it
                if compactor is not None:
                    compactor.tick(self._spaces, readable=compactor.socket in ready, touched=touched)
                self._sync_due()
                self._metrics.wal_lag(self._unsynced, self._policies, time.monotonic())
                if socket not in ready:
                    if os.getppid() != parent:  # the router died before PR_SET_PDEATHSIG took effect
                        log.error("router (pid %d) is gone; stopping", parent)
                        break
                    continue
                for frames in self._handle_batch(arrived(MAX_BATCH), arrived):
                    socket.send_multipart(frames)
                self._prepare_logs()
                self._metrics.resident(self.worker_id, len(self._spaces))
        finally:
            self._close_all()
            self._batch_sync.close()
            if compactor is not None:
                compactor.close()
            socket.close()
            self._events.close()
            context.term()

    def _request_stop(self, _signum: int, _frame: object) -> None:
        self._stopping = True

    def _run_scheduled_work(self) -> None:
        """Between batches, at most once a second: storage upkeep, then the consolidation passes that are due (for
        at most ``CONSOLIDATION_BUDGET_S``; the rest follow ``UPKEEP_RECHECK_S`` later)."""
        now = time.monotonic()
        if now < self._next_scheduled_check:
            return
        self._next_scheduled_check = now + SCHEDULED_CHECK_INTERVAL_S
        self._keep_storage(now)
        if self._consolidate_due(time.time(), time.monotonic() + CONSOLIDATION_BUDGET_S):
            self._next_scheduled_check = min(self._next_scheduled_check, now + UPKEEP_RECHECK_S)

    def _consolidate_due(self, wall: float, deadline: float) -> bool:
        """Run the due spaces' consolidation passes until ``deadline`` or a waiting request (at least one pass);
        True when due ones are left over. Looks only at the spaces that may have changed: used since they were
        last found with nothing to consolidate (``_consolidation_candidates``)."""
        ran = False
        for space_id in list(self._consolidation_candidates):
            space = self._spaces.get(space_id)
            if space is None or not space.consolidation.changed_since_pass:
                del self._consolidation_candidates[space_id]  # unchanged (or gone): its next use adds it again
                continue
            if not space.consolidation.due(wall, self._consolidation_interval_s):
                continue  # changed, but its interval has not passed: looked at again next time
            if ran and (time.monotonic() >= deadline or self._requests_waiting()):
                return True
            ran = True
            del self._consolidation_candidates[space_id]
            try:
                result = space.consolidate(wall)
                log.info("scheduled consolidation of %s: %d pattern(s)", space_id, len(result.patterns))
            except Exception:  # noqa: BLE001 - a failed pass is retried at the next interval; serving goes on
                log.exception("scheduled consolidation of space %s failed", space_id)
                self._consolidation_candidates[space_id] = None
        return False

    def _keep_storage(self, now: float) -> None:
        """Snapshot spaces whose log tail grew past ``snapshot_wal_bytes`` and ``snapshot_growth_ratio`` of their
        size (restart time then depends on the tail, not on history), offload idle and least recently used spaces
        (workers/residency.py), and, about once a minute, move the index files of long-offloaded spaces to colder
        tiers. Only spaces used since last found not due are looked at for a snapshot (``_snapshot_candidates``)."""
        for space_id in self._background.reap():  # their log to replay is now short
            if space_id in self._spaces:
                self._metrics.refresh(space_id, self._spaces[space_id])
        for space_id in list(self._snapshot_candidates):
            space = self._spaces.get(space_id)
            if space is None or not snapshot_due(
                space.wal_bytes_since_snapshot, space.stored_bytes, self._snapshot_wal_bytes,
                self._snapshot_growth_ratio,
            ):  # fmt: skip
                del self._snapshot_candidates[space_id]  # its next use adds it again
            elif self._background.may_start(space_id, now):  # else: looked at again on the next pass
                del self._snapshot_candidates[space_id]
                self._snapshot_in_background(space_id, space)
        come_back = False
        deadline = time.monotonic() + OFFLOAD_BUDGET_S
        over_cap = self._residency.over_cap()  # these go even while requests wait: they bound the worker's memory
        for number, space_id in enumerate(self._residency.to_offload(now)):
            if number and (time.monotonic() >= deadline or (number >= over_cap and self._requests_waiting())):
                come_back = True  # the rest on a later pass
                break
            if self._snapshotting_before_offload(space_id, now):
                come_back = True  # each ended child lets its space close and the next space's child start
            else:
                self._offload(space_id)
        if come_back:
            self._next_scheduled_check = min(self._next_scheduled_check, now + UPKEEP_RECHECK_S)
        self._metrics.resident(self.worker_id, len(self._spaces))
        if now >= self._next_demote_check:
            self._next_demote_check = now + DEMOTE_CHECK_INTERVAL_S
            for space_id, tier in self._residency.to_demote(now):
                try:
                    tiers.demote(self._root / space_id, tier)
                    self._residency.demoted(space_id, tier)
                except OSError:
                    log.exception("moving the index files of space %s to %s failed; kept where they are", space_id,
                                  tier)  # fmt: skip

    def _snapshotting_before_offload(self, space_id: str, now: float) -> bool:
        """True when a space due to be offloaded has its snapshot written by a child first (started now, or
        already running, or waiting for another space's child to end): it is closed on a later pass, once the tail
        it would have snapshotted in the loop is on disk. Snapshotting in the loop held every space of the worker
        10-13 ms per idle space with a long tail, and spaces go idle together: 50 of them, 0.5 s in one pass; with
        children, 8 ms at most (bench/offload_pause.py). False: offload it now (a short tail, or its background
        snapshot failed lately: then it is snapshotted in the loop, the only way left to keep the bound)."""
        space = self._spaces.get(space_id)
        if space is None or space.wal_bytes_since_snapshot < OFFLOAD_SNAPSHOT_MIN_BYTES:
            return False
        if self._background.writing:
            return True  # one child at a time: this one's turn comes when the running child ends
        if not self._background.may_start(space_id, now):
            return False
        self._snapshot_in_background(space_id, space)
        return space_id in self._spaces  # a space whose log could not be cut was dropped: nothing left to offload

    def _snapshot_in_background(self, space_id: str, space: Space) -> None:
        """Snapshot a space in a forked child while the loop serves on (workers/background_snapshot.py)."""
        try:
            self._background.start(space_id, space)
        except OSError:
            log.exception("cannot cut the log of space %s for a snapshot; it will be reloaded from disk", space_id)
            self._drop(space_id)

    def _snapshot(self, space_id: str, space: Space) -> bool:
        """Snapshot a space now, in the loop: for a space about to close. Waits for its background snapshot."""
        self._background.wait(space_id)
        try:
            space.snapshot()
            return True
        except OSError:
            log.exception("snapshot of space %s failed; its log is kept whole and replayed on the next open", space_id)
            return False

    def _offload(self, space_id: str) -> None:
        """Snapshot (if its tail is worth it) and close an idle space; its next request loads it again."""
        space = self._spaces.get(space_id)
        if space is None:
            self._residency.forget(space_id)
            return
        if self._unsynced.get(space_id) is not None:
            self._sync([space_id])
        if space.wal_bytes_since_snapshot >= OFFLOAD_SNAPSHOT_MIN_BYTES:
            self._snapshot(space_id, space)
        self._drop(space_id)
        self._residency.offloaded(space_id)
        self._metrics.offloaded(self.worker_id)
        log.debug("offloaded space %s", space_id)

    # -- one batch -------------------------------------------------------------------------------------------

    def _handle_batch(
        self, batch: list[list[bytes]], arrived: Callable[[int], list[list[bytes]]] | None = None
    ) -> list[list[bytes]]:
        """Handle ``batch``, fsync what it wrote, and return the replies. While the batch has an fsync to do,
        ``arrived(room)`` is asked for messages that came meanwhile (at most ``room``), which join it (module
        docstring); they are handled after the others, in order."""
        outcomes = [self._handle(frames) for frames in batch]
        if arrived is not None and self._must_fsync(outcomes):  # asked once: joining only adds to what is written
            while len(outcomes) < MAX_BATCH:
                late = [self._handle(frames) for frames in arrived(MAX_BATCH - len(outcomes))]
                if not late:
                    break
                outcomes += late
        failed = self._sync_written({o.written_space for o in outcomes if o.written_space})
        replies = []
        for outcome in outcomes:
            reply = outcome.reply
            if outcome.written_space in failed:
                error = failed[outcome.written_space]
                reply = p.error_reply(outcome.request_id, _error_info(error))
            elif outcome.events:  # acknowledged: only now may subscribers hear of it
                self._events.publish(outcome.space, outcome.events)  # type: ignore[arg-type]
            replies.append([outcome.ticket, reply])
        return replies

    def _must_fsync(self, outcomes: list[_Outcome]) -> bool:
        """Whether any of ``outcomes`` wrote a space whose policy fsyncs before answering."""
        return any(
            o.written_space and self._policies.get(o.written_space, DEFAULT_POLICY).durability == "fsync"
            for o in outcomes
        )

    def _sync_written(self, written: set[str]) -> dict[str, EngramError]:
        """Make each written space as durable as its policy asks before the batch is answered: "fsync" spaces are
        fsynced now (once each); "interval" spaces are given a deadline (``_sync_due``); "none" spaces are left to
        the kernel. Returns the spaces whose fsync failed, with the error to report."""
        now = time.monotonic()
        to_sync = []
        for space_id in written:
            policy = self._policies.get(space_id, DEFAULT_POLICY)
            if policy.durability == "interval":
                self._unsynced.setdefault(space_id, now + policy.durability_interval_ms / 1000.0)
            elif policy.durability == "fsync":
                to_sync.append(space_id)
        return self._sync(to_sync)

    def _sync(self, space_ids: list[str]) -> dict[str, EngramError]:
        """fsync the spaces' logs together (workers/durability.py); a space whose fsync failed is dropped (to be
        reloaded from disk) and returned with the error to report."""
        for space_id in space_ids:
            self._unsynced.pop(space_id, None)
        spaces = {space_id: self._spaces[space_id] for space_id in space_ids if space_id in self._spaces}
        if not spaces:
            return {}
        with self._metrics.fsync(spaces):
            errors = self._batch_sync.sync(spaces, filesystem_wide=not self._background.writing)
        self._to_prepare.update(dict.fromkeys(space_id for space_id in spaces if space_id not in errors))
        failed = {}
        for space_id, exc in errors.items():
            log.error("fsync of space %s failed (%s); writes not acknowledged, reloading it", space_id, exc)
            self._drop(space_id)
            failed[space_id] = EngramError(
                ErrorCode.STORAGE_UNAVAILABLE,
                f"The write-ahead log of memory space '{space_id}' could not be made durable: {exc}.",
                hint="The write was not stored; retry later. Check disk space and health of the data directory.",
                retry_after_s=1.0,
            )
        return failed

    def _collect_garbage_if_due(self) -> None:
        """The scheduled full pass of the garbage collector (workers/gc_schedule.py), when no request waits."""
        if self._full_gc is not None and self._full_gc.due(idle=lambda: not self._requests_waiting()):
            self._metrics.gc_full_pass(self.worker_id, self._full_gc.run())

    def _prepare_logs(self) -> None:
        """While no request is waiting, extend ahead the logs of the spaces synced since the last call that are about
        to run out of durable zeros (workers/wal.py, ``WalWriter.prepare``): their extension's allocation and full
        sync then fall in time the worker had nothing to do, not on a request. Stops at the first waiting request;
        the spaces not reached wait for the next idle moment. A space whose fdatasync failed is reloaded, as after
        a failed sync of a batch (nothing was waiting for that sync)."""
        while self._to_prepare:
            space_id = next(iter(self._to_prepare))
            space = self._spaces.get(space_id)
            if space is not None and space.log_needs_room:
                if self._requests_waiting():
                    return
                try:
                    space.prepare_log()
                except OSError as exc:
                    log.error("extending the log of space %s ahead failed (%s); reloading it", space_id, exc)
                    self._drop(space_id)
            self._to_prepare.pop(space_id, None)

    def _sync_due(self) -> None:
        """fsync the "interval" spaces whose deadline has come (their writes were answered already)."""
        if not self._unsynced:
            return
        now = time.monotonic()
        due = [space_id for space_id, deadline in self._unsynced.items() if deadline <= now]
        for space_id in self._sync(due):
            log.error("space %s lost its writes of the last %d ms (interval durability)", space_id,
                      self._policies.get(space_id, DEFAULT_POLICY).durability_interval_ms)  # fmt: skip

    def _poll_timeout_ms(self) -> int:
        """Wake for the next "interval" fsync deadline, so an idle space is synced in time too."""
        if not self._unsynced:
            return POLL_INTERVAL_MS
        wait_ms = (min(self._unsynced.values()) - time.monotonic()) * 1000.0
        return max(0, min(POLL_INTERVAL_MS, math.ceil(wait_ms)))

    def _handle(self, frames: list[bytes]) -> _Outcome:
        ticket, header_bytes, body, placement_bytes = frames
        header = p.HEADER_DECODER.decode(header_bytes)
        written = None
        events = None
        try:
            request = p.REQUEST_DECODER.decode(body)
            placement = p.PLACEMENT_DECODER.decode(placement_bytes)
            result = self._execute(header.space, request, placement)
            self._metrics.after_request(header.space, placement, self._spaces.get(header.space))
            if header.op in p.MUTATING_OPS or self._logged_by_read(header.space):
                written = header.space
            events = events_of(request, result)
            reply = p.ok_reply(header.request_id, result)
        except msgspec.DecodeError as exc:
            reply = p.error_reply(
                header.request_id,
                p.ErrorInfo(ErrorCode.BAD_REQUEST.value, f"Malformed '{header.op}' body: {exc}"),
            )
        except EngramError as error:
            reply = p.error_reply(header.request_id, _error_info(error))
        except OSError as exc:
            log.exception("storage error in space %s; it will be reloaded from disk", header.space)
            self._drop(header.space)
            error = EngramError(ErrorCode.STORAGE_UNAVAILABLE, f"Storage error: {exc}", retry_after_s=1.0)
            reply = p.error_reply(header.request_id, _error_info(error))
        except Exception:  # noqa: BLE001 - one bad request must never take the worker's other spaces down
            log.exception("unexpected error handling %s in space %s", header.op, header.space)
            error = EngramError(ErrorCode.MEMORY_SYSTEM_ERROR, "Internal error; the server logged the details.")
            reply = p.error_reply(header.request_id, _error_info(error))
        return _Outcome(ticket, header.request_id, reply, written, header.space, events)

    def _execute(self, space_id: str, request: p.Request, placement: p.Placement) -> msgspec.Struct:
        now = time.time()
        match request:
            case p.DeleteSpace():
                return self._delete_space(space_id)
            case p.UpdateSpace():
                self._keep_policy(space_id, placement.policy)
                return p.SpaceSummary(space_id, placement.dim, placement.created_at, policy=placement.policy)
            case EventsSince(after_id=after_id):  # the ring only: never loads the space
                return self._events.since(space_id, after_id)
            case p.Status() if space_id is None:  # every loaded space, as the router's fan-out asks
                return p.SpaceStatusList([self._status(name) for name in sorted(self._spaces)])
        if space_id in self._undeletable:
            raise EngramError(
                ErrorCode.STORAGE_UNAVAILABLE,
                f"Memory space '{space_id}' was deleted but its data could not be removed: "
                f"{self._undeletable[space_id]}.",
                hint="Check the data directory's permissions and health; the removal is retried before the space "
                "is created again and when the server restarts.",
                retry_after_s=5.0,
            )
        if not placement.exists:
            return _empty_answer(space_id, request)
        if isinstance(request, p.ImportSpace):
            return self._import_space(space_id, request, placement)
        space = self._open(space_id, placement)
        self._keep_policy(space_id, placement.policy)
        match request:
            case p.ExportSpace():
                self._background.wait(space_id)
                space.snapshot()  # the archive then holds a snapshot and an empty (or short) log tail
                return p.ExportedSpace(
                    archive.pack(self._root / space_id, space_id, space.dim, space.count, now), space.count
                )
            case p.Remember(memories=memories):
                self._metrics.remember_checked(space_id, placement.policy, space, memories)
                return p.Remembered(space.remember(memories, now))
            case p.Recall():
                return space.recall(
                    request.query,
                    request.embedding,
                    request.threshold,
                    request.max_results,
                    now,
                    mode=request.mode,
                    max_depth=request.max_depth,
                    time_budget_ms=request.time_budget_ms,
                    trace=request.trace,
                    filters=request.filters,
                )
            case p.GetMemory(id=memory_id):
                return space.get(memory_id, now)
            case p.Associate():
                return space.associate(request.source, request.target, request.weight, now)
            case p.ListMemories():
                return space.list(request.offset, request.limit, request.include_embeddings, request.filters)
            case p.DeleteMemory(id=memory_id):
                space.delete(memory_id, now)
                return p.Deleted(memory_id)
            case p.Search():
                return space.search(request.query, request.limit, request.filters)
            case p.Consolidate():
                return space.consolidate(now, request.similarity_threshold, request.min_cluster_size)
            case p.ListConsolidations(max_patterns=max_patterns):
                return space.consolidation.snapshot(max_patterns)
            case p.GetConsolidation(id=pattern_id):
                return space.pattern(pattern_id)
            case p.GetSpace():
                worker = p.WorkerRef(self.worker_id, os.getpid())
                index = space.index
                return p.SpaceDetail(
                    space_id, space.dim, space.created_at, space.count, worker,
                    segments=index.segment_count, buffer=index.buffer_count(),
                    policy=placement.policy, stored_bytes=quotas.stored_bytes(space),
                )  # fmt: skip
            case p.CreateSpace():
                summary = p.SpaceSummary(space_id, space.dim, space.created_at, policy=placement.policy)
                return p.SpaceCreated(placement.fresh, summary)
            case p.Status():  # one space: loaded above, so its figures are exact
                return p.SpaceStatusList([self._status(space_id)])
        raise EngramError(ErrorCode.BAD_REQUEST, f"Op '{p.op_of(request)}' is not served by workers.")

    def _status(self, space_id: str) -> p.SpaceStatus:
        policy = self._policies.get(space_id, DEFAULT_POLICY)
        unsynced = self._unsynced.get(space_id)
        return status.space_status(space_id, self._spaces[space_id], policy, unsynced, self.worker_id, time.monotonic())

    def _import_space(self, space_id: str, request: p.ImportSpace, placement: p.Placement) -> p.SpaceCreated:
        """Restore an exported archive as ``space_id`` (workers/archive.py verifies all of it before anything is
        in place), then open it like any space."""
        manifest = read_manifest(request.archive)
        if manifest.dim != placement.dim:
            raise EngramError(
                ErrorCode.INVALID_ARCHIVE,
                f"The archive holds a space of dimension {manifest.dim}, but the import asked for {placement.dim}.",
                hint="Send the dimension named in the archive's manifest.json.",
            )
        if space_id in self._spaces:
            raise EngramError(ErrorCode.MEMORY_SPACE_EXISTS, f"Memory space '{space_id}' is open already.")
        archive.unpack(request.archive, self._root / space_id, space_id)
        space = self._open(space_id, placement)
        self._keep_policy(space_id, placement.policy)
        log.info("imported space %s from an archive of %s (%d memories)", space_id, manifest.space, space.count)
        return p.SpaceCreated(True, p.SpaceSummary(space_id, space.dim, space.created_at, policy=placement.policy))

    def _keep_policy(self, space_id: str, policy: p.SpacePolicy) -> None:
        """Apply the policy the router sent, and keep space.json in step with it (rewritten only on a change)."""
        self._policies[space_id] = policy
        if self._stored_policies.get(space_id) != policy and store_policy(self._root / space_id, space_id, policy):
            self._stored_policies[space_id] = policy

    def _delete_space(self, space_id: str) -> p.SpaceDeleted:
        """Close the space and move its directory into the trash; a background thread removes it. Idempotent: the
        router sends it again after a restart of this worker until one reply confirms it."""
        self._drop(space_id)
        self._residency.forget(space_id)
        self._metrics.forget(space_id)
        self._background.forget(space_id)
        try:
            moved = trash.move_to_trash(self._root, space_id)
        except OSError as exc:
            log.error("cannot move deleted space %s into the trash: %s", space_id, exc)
            self._undeletable[space_id] = str(exc)
            raise EngramError(
                ErrorCode.STORAGE_UNAVAILABLE,
                f"Memory space '{space_id}' is deleted, but its data could not be moved away: {exc}.",
                hint="Check the data directory's permissions and health; the removal is retried before the space "
                "is created again and when the server restarts.",
                retry_after_s=5.0,
            ) from exc
        self._undeletable.pop(space_id, None)
        if moved is not None:
            trash.purge_in_background(moved)
        log.info("deleted space %s%s", space_id, f" (purging {moved.name} in the background)" if moved else "")
        return p.SpaceDeleted(space_id)

    def _logged_by_read(self, space_id: str) -> bool:
        """Whether a read left records in its space's log: recall logs the reinforcement of what it returned
        (docs/memory-model.md). Its reply then waits for the batch's fsync like a write's, so no reply reports an
        access count or confidence that a crash could take back."""
        space = self._spaces.get(space_id)
        return space is not None and space.dirty

    def _open(self, space_id: str, placement: p.Placement) -> Space:
        """The loaded space, loading it on first use (startup loads nothing: DESIGN §7). Space.open reports what
        it had to drop (logged there); every load counts as a use for the residency policy."""
        space = self._spaces.get(space_id)
        if space is None:
            space, report = Space.open(
                self._root, space_id, placement.dim, placement.created_at, expect_existing=not placement.fresh
            )
            self._spaces[space_id] = space
            log.info("opened space %s: %s", space_id, report.summary())
        self._residency.used(space_id, time.monotonic())
        self._touched[space_id] = None
        self._snapshot_candidates[space_id] = None
        self._consolidation_candidates[space_id] = None
        return space

    def _drop(self, space_id: str) -> None:
        """Forget a space (its log failed, or it is deleted): its next request reopens it from what the disk holds."""
        self._unsynced.pop(space_id, None)
        self._policies.pop(space_id, None)
        self._stored_policies.pop(space_id, None)
        self._background.wait(space_id)  # its child writes into the directory a reopen would read or sweep
        space = self._spaces.pop(space_id, None)
        if space is None:
            return
        try:
            space.close()
        except OSError:
            log.warning("closing failed space %s also failed; its descriptor is released anyway", space_id)

    def _close_all(self) -> None:
        """On a clean stop: snapshot the spaces with a long log tail (so the next start loads them fast), close all."""
        self._background.wait_all()
        for space_id, space in self._spaces.items():
            if space.wal_bytes_since_snapshot >= OFFLOAD_SNAPSHOT_MIN_BYTES:
                self._snapshot(space_id, space)
            try:
                space.close()
            except OSError:
                log.exception("closing space %s failed", space_id)
        self._spaces.clear()


def _received(socket: zmq.Socket, room: int) -> list[list[bytes]]:
    """The messages waiting on ``socket``, at most ``room`` of them, without waiting for more."""
    messages = []
    while len(messages) < room:
        try:
            messages.append(socket.recv_multipart(zmq.NOBLOCK))
        except zmq.Again:
            break
    return messages


def _readable(socket: zmq.Socket) -> bool:
    """Whether a message is waiting on ``socket``. Upkeep of idle spaces (offloading, scheduled consolidation)
    stops for it: a quiet space's request must not wait out a 5 ms budget of other spaces' upkeep, which spaces
    written together fall due for together (docs/scaling.md). Each pass still does one step, so upkeep goes on
    under a steady load, a step every ``UPKEEP_RECHECK_S``."""
    return bool(socket.getsockopt(zmq.EVENTS) & zmq.POLLIN)


def _empty_answer(space_id: str, request: p.Request) -> msgspec.Struct:
    """What a read of a never-created space answers: what an empty space would, without creating it."""
    match request:
        case p.Recall():
            return p.RecallResult([], 0)
        case p.ListMemories() | p.Search():
            return p.MemoryPage([], 0)
        case p.Consolidate() | p.ListConsolidations():
            return p.Consolidations(0.0, [], p.ConsolidationStats())
        case p.GetConsolidation(id=pattern_id):
            raise EngramError(
                ErrorCode.CONSOLIDATION_NOT_FOUND,
                f"Consolidation '{pattern_id}' not found in memory space '{space_id}'.",
                hint="The memory space has no memories yet.",
            )
        case p.GetMemory(id=memory_id) | p.DeleteMemory(id=memory_id) | p.Associate(source=memory_id):
            raise EngramError(
                ErrorCode.MEMORY_NOT_FOUND,
                f"Memory '{memory_id}' not found in memory space '{space_id}'.",
                hint="The memory space has no memories yet.",
            )
    raise EngramError(ErrorCode.MEMORY_SPACE_NOT_FOUND, f"Memory space '{space_id}' not found.")


def _error_info(error: EngramError) -> p.ErrorInfo:
    return p.ErrorInfo(error.code.value, error.message, error.hint, error.retry_after_s)


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this worker when the router dies, so no orphan keeps a space open."""
    if not die_with_parent(signal.SIGTERM):
        log.warning("prctl(PR_SET_PDEATHSIG) unavailable; an orphaned worker exits at its next parent check")
