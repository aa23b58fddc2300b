"""The worker process's one loop: receive a batch, apply it, fsync once per touched space, then reply.

Group commit falls out of the loop's shape: every message that arrived while the previous batch was being fsynced is
handled as the next batch, and each space written in a batch is fsynced once for all of them. No reply leaves the
worker before the fsync of its batch, so a 2xx always means "in the log and on disk" (DESIGN §5), and a read never
reports data that could still vanish. When an fsync fails, the batch's writes to that space are answered with an
error and the space is dropped from memory, to be reloaded from what the disk really holds.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec
import zmq

from engram import protocol as p
from engram.config import Config
from engram.errors import EngramError, ErrorCode
from workers.compaction import Compactor
from workers.space import Space

log = logging.getLogger(__name__)

MAX_BATCH = 256
POLL_INTERVAL_MS = 100
SCHEDULED_CHECK_INTERVAL_S = 1.0
_PR_SET_PDEATHSIG = 1


@dataclass
class _Outcome:
    ticket: bytes
    request_id: int
    reply: bytes
    written_space: str | None = None  # set when the request wrote to this space and needs its fsync


class WorkerLoop:
    def __init__(self, worker_id: int, backend: str, config: Config, builder: str | None = None) -> None:
        self.worker_id = worker_id
        self._backend_endpoint = backend
        self._builder_endpoint = builder  # the index builder (workers/builder.py); None: exact search only
        self._index_seal_rows = config.index_seal_rows
        self._root = Path(config.data_root)
        self._spaces: dict[str, Space] = {}
        self._stopping = False
        self._consolidation_interval_s = config.consolidation_interval_s
        self._next_scheduled_check = 0.0

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
        socket.send_multipart([b"", p.ENCODER.encode(p.WorkerReady(self.worker_id, os.getpid()))])
        poller = zmq.Poller()
        poller.register(socket, zmq.POLLIN)
        compactor = None
        if self._builder_endpoint:
            compactor = Compactor(context, self._builder_endpoint, self._index_seal_rows)
            poller.register(compactor.socket, zmq.POLLIN)  # a finished segment wakes the loop to swap it in
        try:
            while not self._stopping:
                self._run_scheduled_work()
                if compactor is not None:
                    compactor.tick(self._spaces)
                if socket not in dict(poller.poll(POLL_INTERVAL_MS)):
                    if os.getppid() != parent:  # the router died before PR_SET_PDEATHSIG took effect
                        log.error("router (pid %d) is gone; stopping", parent)
                        break
                    continue
                batch = []
                while len(batch) < MAX_BATCH:
                    try:
                        batch.append(socket.recv_multipart(zmq.NOBLOCK))
                    except zmq.Again:
                        break
                for frames in self._handle_batch(batch):
                    socket.send_multipart(frames)
        finally:
            self._close_all()
            if compactor is not None:
                compactor.close()
            socket.close()
            context.term()

    def _request_stop(self, _signum: int, _frame: object) -> None:
        self._stopping = True

    def _run_scheduled_work(self) -> None:
        """Between batches, at most once a second: the consolidation pass of every open space that is due."""
        now = time.monotonic()
        if now < self._next_scheduled_check:
            return
        self._next_scheduled_check = now + SCHEDULED_CHECK_INTERVAL_S
        wall = time.time()
        for space_id, space in list(self._spaces.items()):
            if not space.consolidation.due(wall, self._consolidation_interval_s):
                continue
            try:
                result = space.consolidate(wall)
                log.info("scheduled consolidation of %s: %d pattern(s)", space_id, len(result.patterns))
            except Exception:  # noqa: BLE001 - a failed pass is retried at the next interval; serving goes on
                log.exception("scheduled consolidation of space %s failed", space_id)

    # -- one batch -------------------------------------------------------------------------------------------

    def _handle_batch(self, batch: list[list[bytes]]) -> list[list[bytes]]:
        outcomes = [self._handle(frames) for frames in batch]
        failed = self._sync_written({o.written_space for o in outcomes if o.written_space})
        replies = []
        for outcome in outcomes:
            reply = outcome.reply
            if outcome.written_space in failed:
                error = failed[outcome.written_space]
                reply = p.error_reply(outcome.request_id, _error_info(error))
            replies.append([outcome.ticket, reply])
        return replies

    def _sync_written(self, written: set[str]) -> dict[str, EngramError]:
        """fsync each written space once; return the spaces whose fsync failed, with the error to report."""
        failed = {}
        for space_id in written:
            space = self._spaces.get(space_id)
            if space is None:
                continue
            try:
                space.sync()
            except OSError as exc:
                log.error("fsync of space %s failed (%s); writes not acknowledged, reloading it", space_id, exc)
                self._drop(space_id)
                failed[space_id] = EngramError(
                    ErrorCode.STORAGE_UNAVAILABLE,
                    f"The write-ahead log of memory space '{space_id}' could not be made durable: {exc}.",
                    hint="The write was not stored; retry later. Check disk space and health of the data directory.",
                    retry_after_s=1.0,
                )
        return failed

    def _handle(self, frames: list[bytes]) -> _Outcome:
        ticket, header_bytes, body, placement_bytes = frames
        header = p.HEADER_DECODER.decode(header_bytes)
        written = None
        try:
            request = p.REQUEST_DECODER.decode(body)
            placement = p.PLACEMENT_DECODER.decode(placement_bytes)
            result = self._execute(header.space, request, placement)
            if header.op in p.MUTATING_OPS or self._logged_by_read(header.space):
                written = header.space
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
        return _Outcome(ticket, header.request_id, reply, written)

    def _execute(self, space_id: str, request: p.Request, placement: p.Placement) -> msgspec.Struct:
        now = time.time()
        if not placement.exists:
            return _empty_answer(space_id, request)
        space = self._open(space_id, placement)
        match request:
            case p.Remember(memories=memories):
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
                )  # fmt: skip
            case p.CreateSpace():
                summary = p.SpaceSummary(space_id, space.dim, space.created_at)
                return p.SpaceCreated(placement.fresh, summary)
        raise EngramError(ErrorCode.BAD_REQUEST, f"Op '{p.op_of(request)}' is not served by workers.")

    def _logged_by_read(self, space_id: str) -> bool:
        """Whether a read left records in its space's log: recall logs the reinforcement of what it returned
        (docs/memory-model.md). Its reply then waits for the batch's fsync like a write's, so no reply reports an
        access count or confidence that a crash could take back."""
        space = self._spaces.get(space_id)
        return space is not None and space.dirty

    def _open(self, space_id: str, placement: p.Placement) -> Space:
        space = self._spaces.get(space_id)
        if space is None:
            started = time.monotonic()
            space, report = Space.open(self._root, space_id, placement.dim, placement.created_at)
            self._spaces[space_id] = space
            level = logging.WARNING if report.dropped_bytes else logging.INFO
            log.log(
                level,
                "opened space %s: %d record(s) replayed in %.3f s, %d byte(s) dropped (%s)",
                space_id,
                report.records,
                time.monotonic() - started,
                report.dropped_bytes,
                report.dropped_reason or "clean",
            )
        return space

    def _drop(self, space_id: str) -> None:
        """Forget a space whose log failed: its next request reopens it from what the disk really holds."""
        space = self._spaces.pop(space_id, None)
        if space is None:
            return
        try:
            space.close()
        except OSError:
            log.warning("closing failed space %s also failed; its descriptor is released anyway", space_id)

    def _close_all(self) -> None:
        for space_id, space in self._spaces.items():
            try:
                space.close()
            except OSError:
                log.exception("closing space %s failed", space_id)
        self._spaces.clear()


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
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        log.warning("prctl(PR_SET_PDEATHSIG) unavailable; an orphaned worker exits at its next parent check")
