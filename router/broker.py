"""The router's one loop: take requests from clients, answer registry ops, forward the rest to the owning worker,
pass replies back, and supervise the workers.

Frontend (ROUTER, ``config.router``): clients send ``[header, body]`` from DEALER sockets.
Backend (ROUTER, an ephemeral loopback port): workers connect with identity ``w<id>``; the router sends
``[ticket, header, body, placement]`` and receives ``[ticket, reply]`` (or ``[b"", WorkerReady]``).

A request for a worker that is down waits in that worker's queue for at most ``WORKER_WAIT_S`` (503 after that); a
request already forwarded to a worker that dies is answered 503 at once, since the router cannot know whether it was
applied. Other workers' spaces are never delayed by any of this.

Space lifecycle (docs/protocol.md): the registry entry is the authority on a space's state and policy, and every
forwarded request carries the policy to the worker in its ``Placement``. A delete tombstones the entry (persisted)
before it is forwarded, so from then on every request to the space is 410 at the router. Until the owning worker
confirms that it moved the directory away, the space is "unpurged": a worker that restarts is sent the purge again
before anything else, and creating the space again sends one ahead of the create, so a space created again can never
open its old data. Quotas: ``max_spaces`` and each space's ``max_rps`` are enforced here; ``max_memories`` and
``max_bytes`` by the worker, which knows the space's contents.
"""

from __future__ import annotations

import itertools
import logging
import math
import signal
import time
from collections import deque
from dataclasses import dataclass

import msgspec
import zmq

from engram import protocol as p
from engram.archive import read_archived_space
from engram.config import ABSOLUTE_MAX_DIM, Config
from engram.errors import EngramError, ErrorCode, unavailable
from engram.ids import validate_space_id
from router.events import EventProxy
from router.fair import SpaceGate
from router.metrics import RouterMetrics
from router.ownership import Ownership
from router.pacing import CpuMeter, Pacer
from router.placement import owner
from router.rate_limits import RateLimits
from router.registry import Registry, SpaceEntry
from router.status import FanOut, StatusFanOuts, merge
from router.supervision import WorkerPool, WorkerSlot, worker_identity

log = logging.getLogger(__name__)

POLL_INTERVAL_MS = 50
WORKER_WAIT_S = 10.0
SPACE_LIMIT_RETRY_AFTER_S = 60.0
PACED_BACKLOG_S = 2.0  # a paced space may have this many seconds of its pace waiting (router/pacing.py)
PACED_BACKLOG_MIN = 64
_CREATE_DECODER = msgspec.msgpack.Decoder(p.CreateSpace)
_UPDATE_DECODER = msgspec.msgpack.Decoder(p.UpdateSpace)
_LIST_DECODER = msgspec.msgpack.Decoder(p.ListSpaces)
_IMPORT_DECODER = msgspec.msgpack.Decoder(p.ImportSpace)
_PURGE_BODY = p.ENCODER.encode(p.DeleteSpace())
_STATUS_BODY = p.ENCODER.encode(p.Status())


@dataclass
class _Pending:
    client: bytes | None  # None: the router's own request (a purge sent again), whose reply nobody awaits
    request_id: int
    worker: int
    purge: str | None = None  # a delete_space of this space: its OK reply confirms the purge
    imported: SpaceEntry | None = None  # an import_space: registered when (and only when) its worker succeeds
    fanout: int | None = None  # a worker's part of a status fan-out (router/status.py)
    space: str | None = None  # counted by the space gate (router/fair.py) until answered


@dataclass
class _Queued:
    deadline: float
    client: bytes | None
    request_id: int
    frames: list[bytes]
    purge: str | None = None
    imported: SpaceEntry | None = None
    space: str | None = None  # counted by the space gate (router/fair.py) until answered


class Broker:
    def __init__(self, config: Config, registry: Registry, unpurged: set[str] | None = None) -> None:
        self._config = config
        self._registry = registry
        self._context = zmq.Context()
        self._frontend = self._context.socket(zmq.ROUTER)
        self._frontend.setsockopt(zmq.LINGER, 0)
        self._frontend.bind(config.router)
        self._backend = self._context.socket(zmq.ROUTER)
        self._backend.setsockopt(zmq.LINGER, 0)
        self._backend.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a send to a worker that is gone raises, not drops
        self._backend.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a restarted worker takes over its identity at once
        self._backend.bind("tcp://127.0.0.1:*")
        self.backend_endpoint = self._backend.getsockopt_string(zmq.LAST_ENDPOINT)
        self._events = EventProxy(self._context, config.events)
        self.pool = WorkerPool(config, self.backend_endpoint, self._events.upstream_endpoint)
        self._tickets = itertools.count(1)
        self._pending: dict[bytes, _Pending] = {}
        self._queues: dict[int, deque[_Queued]] = {slot.id: deque() for slot in self.pool.slots}
        self._gate: SpaceGate[_Queued] = SpaceGate(config.space_inflight_limit)
        self._pacer = Pacer(config.pacing_cpu_target, CpuMeter().busy, time.monotonic())
        self._stopping = False
        self._rate_limits = RateLimits()
        self._unpurged: set[str] = set(unpurged or ())  # deleted spaces whose directory may still be in place
        self._default_policy = p.SpacePolicy(durability=config.default_durability)
        self._importing: set[str] = set()  # spaces whose import_space is with their worker
        self._ownership = Ownership(registry, len(self.pool.slots))
        self._status = StatusFanOuts()
        oldest_first = sorted(registry.entries(), key=lambda entry: entry.created_at)  # metric labels (router/metrics)
        self._metrics = RouterMetrics(config.max_metric_spaces, [entry.id for entry in oldest_first])

    # -- main loop -------------------------------------------------------------------------------------------

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        self.pool.start_all()
        poller = zmq.Poller()
        poller.register(self._frontend, zmq.POLLIN)
        poller.register(self._backend, zmq.POLLIN)
        self._events.register(poller)
        log.info("router listening on %s, %d workers", self._config.router, len(self.pool.slots))
        try:
            while not self._stopping:
                events = dict(poller.poll(self._poll_timeout_ms()))
                if self._backend in events:
                    self._drain(self._backend, self._on_backend)
                if self._frontend in events:
                    self._drain(self._frontend, self._on_frontend)
                self._events.pump(events)
                self._supervise()
                self._pace()
        finally:
            self.pool.stop_all()
            self._frontend.close()
            self._backend.close()
            self._events.close()
            self._context.term()

    def _poll_timeout_ms(self) -> int:
        """POLL_INTERVAL_MS, or less when a paced space's next request is due sooner."""
        turn = self._gate.next_turn()
        if turn is None:
            return POLL_INTERVAL_MS
        return max(0, min(POLL_INTERVAL_MS, math.ceil((turn - time.monotonic()) * 1000)))

    def _pace(self) -> None:
        """Apply the pacer's changes (router/pacing.py) and send the paced requests whose turn came."""
        if self._pacer.enabled:
            for space, rate in self._pacer.tick(time.monotonic()).items():
                if rate is None:
                    log.info("memory space %s is no longer paced", space)
                elif not self._gate.is_paced(space):
                    log.info("memory space %s is paced to %.0f requests/s: the CPU is above pacing_cpu_target "
                             "(%g) while other spaces are active", space, rate, self._pacer.cpu_target)  # fmt: skip
                else:
                    log.debug("memory space %s: pace now %.0f requests/s", space, rate)
                self._gate.pace(space, rate)
        for item in list(self._gate.due()):
            self._send_item(owner(item.space, len(self.pool.slots)), item)

    def _request_stop(self, _signum: int, _frame: object) -> None:
        self._stopping = True

    @staticmethod
    def _drain(socket: zmq.Socket, handle) -> None:
        """Handle every message already waiting, so one busy socket cannot starve the other for long."""
        for _ in range(1000):
            try:
                frames = socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            handle(frames)

    def _supervise(self) -> None:
        for slot in self.pool.reap():
            self._fail_pending(slot)
        for slot in self.pool.slots:
            if slot.ready and self._queues[slot.id]:
                self._flush_queue(slot)
        now = time.monotonic()
        for fanout in self._status.expired(now):
            self._answer_status(fanout)
        for worker, queue in self._queues.items():
            while queue and queue[0].deadline <= now:
                item = queue.popleft()
                self._give_up(item, f"worker {worker} did not come back within {WORKER_WAIT_S:g} s")
                if item.space is not None:
                    self._admit_next(item.space)
        for item in list(self._gate.expired(now)):
            self._give_up(item, f"its memory space's earlier requests were not answered within {WORKER_WAIT_S:g} s")

    def _give_up(self, item: _Queued, why: str) -> None:
        """Answer a request that never reached a worker 503 (it was not applied)."""
        self._metrics.failed(item.frames[0])
        if item.imported is not None:
            self._importing.discard(item.imported.id)
        if item.client is not None:
            self._reply_error(item.client, item.request_id, unavailable(why[0].upper() + why[1:] + ".", 2.0))

    # -- clients ---------------------------------------------------------------------------------------------

    def _on_frontend(self, frames: list[bytes]) -> None:
        client = frames[0]
        try:
            header = p.HEADER_DECODER.decode(frames[1])
        except (msgspec.DecodeError, IndexError):
            self._reply_error(client, 0, EngramError(ErrorCode.BAD_REQUEST, "Malformed request header frame."))
            return
        try:
            if header.version != p.PROTOCOL_VERSION:
                raise EngramError(
                    ErrorCode.UNSUPPORTED_PROTOCOL_VERSION,
                    f"Protocol version {header.version} is not supported; this server speaks {p.PROTOCOL_VERSION}.",
                    hint="Upgrade the client library.",
                )
            if len(frames) != 3:
                raise EngramError(ErrorCode.BAD_REQUEST, "A request is exactly two frames: header and body.")
            self._dispatch(client, header, frames[2])
        except EngramError as error:
            self._metrics.refused(header, self._config.default_space, error)
            self._reply_error(client, header.request_id, error)
        except OSError as exc:
            log.exception("registry write failed")
            self._reply_error(
                client,
                header.request_id,
                EngramError(ErrorCode.STORAGE_UNAVAILABLE, f"Registry write failed: {exc}", retry_after_s=1.0),
            )

    def _dispatch(self, client: bytes, header: p.Header, body: bytes) -> None:
        if header.op == "ping":
            self._reply_ok(client, header.request_id, self._health())
        elif header.op == "list_spaces":
            include_deleted = _decode(_LIST_DECODER, body, header.op).include_deleted
            spaces = [summary_of(e) for e in self._registry.entries(include_deleted)]
            self._reply_ok(client, header.request_id, p.SpaceList(spaces))
        elif header.op == "create_space":
            self._create_space(client, header, body)
        elif header.op == "update_space":
            self._update_space(client, header, body)
        elif header.op == "delete_space":
            self._delete_space(client, header, body)
        elif header.op == "import_space":
            self._import_space(client, header, body)
        elif header.op == "status":
            self._start_status(client, header)
        else:
            self._forward_space_op(client, header, body)

    def _resolve_space(self, header: p.Header) -> str:
        if header.space is None:
            if self._config.require_explicit_space:
                raise EngramError(
                    ErrorCode.MISSING_MEMORY_SPACE,
                    "Missing memory_space_id. Set --space or X-Memory-Space header.",
                    hint="Send the space in the request header's 'space' field.",
                )
            self._metrics.default_fallback(header.op, self._config.default_space)
            return self._config.default_space
        return validate_space_id(header.space, source="memory space in the request header")

    def _create_space(self, client: bytes, header: p.Header, body: bytes) -> None:
        space = self._resolve_space(header)
        request = _decode(_CREATE_DECODER, body, header.op)
        requested = request.dim
        dim = requested or self._config.default_dim
        if not 1 <= dim <= ABSOLUTE_MAX_DIM:
            raise EngramError(
                ErrorCode.INVALID_MEMORY_INPUT,
                f"Dimension must be between 1 and {ABSOLUTE_MAX_DIM}, got {dim}.",
                hint="Use the dimension of your embedding model, e.g. 384 or 768.",
            )
        existing = self._registry.get(space)
        policy = None
        if existing is None or existing.deleted:
            self._check_space_limit(space)
            policy = (request.policy or p.SpacePolicyPatch()).apply(self._default_policy)
        entry, created = self._registry.create(space, dim, policy)
        if requested is not None and entry.dim != requested:
            raise EngramError(
                ErrorCode.DIMENSION_CONFLICT,
                f"Memory space '{space}' already exists with dimension {entry.dim}, not {requested}.",
                hint=f"Omit 'dim' or pass {entry.dim}, or create a space with another id.",
            )
        self._created(space, created)
        self._forward(client, header, body, space, placement_of(entry, fresh=created))

    def _update_space(self, client: bytes, header: p.Header, body: bytes) -> None:
        space = self._resolve_space(header)
        patch = _decode(_UPDATE_DECODER, body, header.op).policy
        entry = self._existing(space)
        entry = self._registry.update_policy(space, patch.apply(entry.policy))
        self._forward(client, header, body, space, placement_of(entry))

    def _delete_space(self, client: bytes, header: p.Header, body: bytes) -> None:
        space = self._resolve_space(header)
        self._existing(space)
        entry = self._registry.delete(space)
        log.info("memory space %s deleted (tombstoned); its worker purges it", space)
        self._rate_limits.forget(space)
        self._unpurged.add(space)
        self._forward(client, header, body, space, placement_of(entry), purge=space)

    def _import_space(self, client: bytes, header: p.Header, body: bytes) -> None:
        """Forward an import to the space's worker; the space is registered only once the worker restored it, so a
        refused archive leaves no space behind. Requests to the space meanwhile are refused (409)."""
        space = self._resolve_space(header)
        request = _decode(_IMPORT_DECODER, body, header.op)
        existing = self._registry.get(space)
        if (existing is not None and not existing.deleted) or space in self._importing:
            raise EngramError(
                ErrorCode.MEMORY_SPACE_EXISTS,
                f"Cannot import into memory space '{space}': it exists already.",
                hint="Import under another id (engram space import FILE --as NEW), or delete that space first.",
            )
        self._check_space_limit(space)
        archived = read_archived_space(request.archive)  # the space keeps its policy and creation time
        if archived is not None:
            entry = SpaceEntry(space, request.dim, archived.created_at, policy=archived.policy)
        else:
            entry = SpaceEntry(space, request.dim, time.time(), policy=self._default_policy)
        self._importing.add(space)
        if existing is not None and space in self._unpurged:
            self._send_purge(space)
        self._forward(client, header, body, space, placement_of(entry, fresh=True), imported=entry)

    def _start_status(self, client: bytes, header: p.Header) -> None:
        """Ask every ready worker for its loaded spaces' figures (with a space: only its owner, which loads it);
        the answer goes out when all have replied or ``STATUS_WAIT_S`` passed (router/status.py)."""
        space = None
        placement = p.Placement(False, self._config.default_dim)
        workers = [slot.id for slot in self.pool.slots]
        if header.space is not None:
            space = validate_space_id(header.space, source="memory space in the request header")
            placement = self._metrics.label(space, placement_of(self._existing(space)))
            workers = [owner(space, len(self.pool.slots))]
        fanout_id, fanout = self._status.open(client, header.request_id, space)
        request = p.ENCODER.encode(p.Header(p.PROTOCOL_VERSION, header.request_id, "status", space))
        for worker in workers:
            ticket = next(self._tickets).to_bytes(8, "big")
            if self._send_to_worker(worker, [ticket, request, _STATUS_BODY, p.ENCODER.encode(placement)]):
                self._pending[ticket] = _Pending(None, header.request_id, worker, fanout=fanout_id)
                fanout.waiting.add(worker)
        settled = self._status.settle(fanout_id)
        if settled is not None:
            self._answer_status(settled)

    def _answer_status(self, fanout: FanOut) -> None:
        slots = len(self.pool.slots)
        spaces = self._ownership.owners if fanout.space is None else {fanout.space: owner(fanout.space, slots)}
        self._reply_ok(
            fanout.client, fanout.request_id, merge(fanout, spaces, self._health().workers, self._pacer.rates)
        )

    def _import_answered(self, entry: SpaceEntry, reply: bytes) -> None:
        self._importing.discard(entry.id)
        if p.REPLY_DECODER.decode(reply).error is None:
            self._registry.create(entry.id, entry.dim, entry.policy, now=entry.created_at)
            log.info("memory space %s imported", entry.id)

    def _forward_space_op(self, client: bytes, header: p.Header, body: bytes) -> None:
        space = self._resolve_space(header)
        entry = self._registry.get(space)
        fresh = False
        if entry is not None and entry.deleted:
            raise deleted_error(space)
        if space in self._importing:
            raise unavailable(f"Memory space '{space}' is being imported.", 1.0)
        if entry is None and header.op in ("get_space", "export_space"):
            raise EngramError(
                ErrorCode.MEMORY_SPACE_NOT_FOUND,
                f"Memory space '{space}' not found.",
                hint="List spaces with GET /api/v1/spaces, or create it with POST /api/v1/spaces.",
            )
        if entry is None and header.op in p.CREATING_OPS:
            self._check_space_limit(space)
            entry, fresh = self._registry.create(space, self._config.default_dim, self._default_policy)
            self._created(space, fresh)
        elif entry is not None and header.op not in p.LIFECYCLE_OPS:
            self._rate_limits.check(space, entry.policy.max_rps)
            self._check_pace(space)
        if entry is None:
            placement = p.Placement(False, self._config.default_dim, policy=self._default_policy)
        else:
            placement = placement_of(entry, fresh=fresh)
        self._forward(client, header, body, space, placement)

    def _check_pace(self, space: str) -> None:
        """Count a request for the pacer; refuse it (429) when its space is paced and already has PACED_BACKLOG_S
        worth of requests waiting: a client sending faster than its pace would otherwise queue without end."""
        if not self._pacer.enabled:
            return
        resumed = self._pacer.count(space, time.monotonic())
        if resumed is not None:
            log.info("memory space %s resumes its pace of %.0f requests/s: it returned while other spaces are active",
                     space, resumed)  # fmt: skip
            self._gate.pace(space, resumed)
        rate = self._pacer.rates.get(space)
        if rate is not None and self._gate.waiting_of(space) >= max(PACED_BACKLOG_MIN, rate * PACED_BACKLOG_S):
            raise EngramError(
                ErrorCode.QUOTA_EXCEEDED,
                f"Memory space '{space}' is paced to {rate:.0f} requests per second while the server is busy and "
                f"other spaces are active, and {self._gate.waiting_of(space)} of its requests are waiting already.",
                hint="Send fewer requests at once (wait for answers before sending more), or retry after "
                f"{PACED_BACKLOG_S:g} s; the pace ends when the server is less busy (pacing_cpu_target).",
                retry_after_s=PACED_BACKLOG_S,
                quota="pacing",
            )

    def _existing(self, space: str) -> SpaceEntry:
        """The active entry of ``space``: 404 when it was never created, 410 when it is deleted."""
        entry = self._registry.get(space)
        if entry is None:
            raise EngramError(
                ErrorCode.MEMORY_SPACE_NOT_FOUND,
                f"Memory space '{space}' not found.",
                hint="List spaces with GET /api/v1/spaces, or create it with POST /api/v1/spaces.",
            )
        if entry.deleted:
            raise deleted_error(space)
        return entry

    def _check_space_limit(self, space: str) -> None:
        limit = self._config.max_spaces
        if self._registry.active_count >= limit:
            raise EngramError(
                ErrorCode.SPACE_LIMIT_REACHED,
                f"Cannot create memory space '{space}': this server holds {self._registry.active_count} "
                f"space(s), its limit (max_spaces = {limit}).",
                hint="Delete spaces that are no longer needed (DELETE /api/v1/spaces/{space}, or engram space "
                "delete ID), or raise max_spaces in the server's config file ([memory_spaces] max_spaces) and "
                "restart it.",
                retry_after_s=SPACE_LIMIT_RETRY_AFTER_S,
            )

    def _created(self, space: str, created: bool) -> None:
        """A space was just (re)created: if its previous incarnation's purge is unconfirmed, send the purge ahead
        of the create. The owning worker handles its requests in order, so the old directory is gone first."""
        if created and space in self._unpurged:
            self._send_purge(space)

    def _send_purge(self, space: str, *, first: bool = False) -> None:
        """Send the router's own delete_space for ``space`` (``first``: ahead of everything queued)."""
        header = p.Header(p.PROTOCOL_VERSION, 0, "delete_space", space)
        entry = self._registry.get(space)
        placement = placement_of(entry) if entry is not None else p.Placement(False, self._config.default_dim)
        if not first:
            self._forward(None, header, _PURGE_BODY, space, placement, purge=space)
            return
        frames = [next(self._tickets).to_bytes(8, "big"), p.ENCODER.encode(header), _PURGE_BODY,
                  p.ENCODER.encode(placement)]  # fmt: skip
        worker = owner(space, len(self.pool.slots))
        self._queues[worker].appendleft(_Queued(time.monotonic() + WORKER_WAIT_S, None, 0, frames, purge=space))

    def _forward(
        self,
        client: bytes | None,
        header: p.Header,
        body: bytes,
        space: str,
        placement: p.Placement,
        purge: str | None = None,
        imported: SpaceEntry | None = None,
    ) -> None:
        worker = owner(space, len(self.pool.slots))
        if header.space != space:  # the worker always sees the resolved space
            header = p.Header(header.version, header.request_id, header.op, space)
        ticket = next(self._tickets).to_bytes(8, "big")
        placement = self._metrics.label(space, placement)  # the worker labels its series as the router does
        if client is not None:
            self._metrics.forwarded(ticket, header.op, placement)
        frames = [ticket, p.ENCODER.encode(header), body, p.ENCODER.encode(placement)]
        deadline = time.monotonic() + WORKER_WAIT_S
        item = _Queued(deadline, client, header.request_id, frames, purge, imported, space)
        if not self._gate.admit(space):
            self._gate.hold(space, deadline, item)
            return
        self._send_item(worker, item)

    def _send_item(self, worker: int, item: _Queued) -> None:
        """Send an admitted request to its worker, or queue it behind what waits for that worker already."""
        queue = self._queues[worker]
        if queue or not self._send_to_worker(worker, item.frames):
            queue.append(item)
            return
        self._pending[item.frames[0]] = _Pending(
            item.client, item.request_id, worker, item.purge, item.imported, space=item.space
        )

    def _admit_next(self, space: str) -> None:
        """A request of ``space`` is done with its worker: send the space's next waiting one, if any."""
        item = self._gate.release(space)
        if item is not None:
            self._send_item(owner(space, len(self.pool.slots)), item)

    def _send_to_worker(self, worker: int, frames: list[bytes]) -> bool:
        if not self.pool.slots[worker].ready:
            return False
        try:
            self._backend.send_multipart([worker_identity(worker), *frames], zmq.NOBLOCK)
        except zmq.ZMQError:
            return False
        return True

    # -- workers ---------------------------------------------------------------------------------------------

    def _on_backend(self, frames: list[bytes]) -> None:
        ticket = frames[1]
        if not ticket:
            self._on_control(frames[0], frames[2])
            return
        pending = self._pending.pop(ticket, None)
        if pending is None:  # its worker was declared dead and the client already got a 503
            return
        self._metrics.replied(ticket, frames[2])
        if pending.space is not None:
            self._admit_next(pending.space)
        if pending.fanout is not None:
            settled = self._status.answered(pending.fanout, pending.worker, frames[2])
            if settled is not None:
                self._answer_status(settled)
            return
        if pending.purge is not None:
            self._purge_answered(pending.purge, frames[2])
        if pending.imported is not None:
            self._import_answered(pending.imported, frames[2])
        if pending.client is not None:
            self._frontend.send_multipart([pending.client, frames[2]])

    def _purge_answered(self, space: str, reply: bytes) -> None:
        try:
            error = p.REPLY_DECODER.decode(reply).error
        except msgspec.DecodeError:
            error = p.ErrorInfo(ErrorCode.MEMORY_SYSTEM_ERROR.value, "malformed reply")
        if error is None:
            self._unpurged.discard(space)
        else:
            log.error("worker could not purge deleted space %s (%s: %s); it is retried before the space is "
                      "created again, and at the next start", space, error.code, error.message)  # fmt: skip

    def _on_control(self, identity: bytes, payload: bytes) -> None:
        ready = p.CONTROL_DECODER.decode(payload)
        slot = self.pool.slots[ready.worker_id]
        if slot.pid != ready.pid:
            log.warning("ignoring ready message from stale worker pid %d", ready.pid)
            return
        slot.ready = True
        log.info("worker %d ready (pid %d)", slot.id, ready.pid)
        for space in sorted(self._unpurged):  # a restarted worker may have died before it moved them away
            if owner(space, len(self.pool.slots)) == slot.id:
                self._send_purge(space, first=True)
        self._flush_queue(slot)

    def _flush_queue(self, slot: WorkerSlot) -> None:
        """Send what waited for this worker, oldest first, as long as it accepts."""
        queue = self._queues[slot.id]
        while queue:
            item = queue[0]
            if not self._send_to_worker(slot.id, item.frames):
                return
            queue.popleft()
            self._pending[item.frames[0]] = _Pending(
                item.client, item.request_id, slot.id, item.purge, item.imported, space=item.space
            )

    def _fail_pending(self, slot: WorkerSlot) -> None:
        lost = [ticket for ticket, pending in self._pending.items() if pending.worker == slot.id]
        released = []
        for ticket in lost:
            pending = self._pending.pop(ticket)
            self._metrics.failed(ticket)
            if pending.space is not None:
                released.append(pending.space)
            if pending.imported is not None:
                self._importing.discard(pending.imported.id)
            if pending.fanout is not None:
                settled = self._status.lost(pending.fanout, slot.id)
                if settled is not None:
                    self._answer_status(settled)
                continue
            if pending.client is None:
                continue
            self._reply_error(
                pending.client,
                pending.request_id,
                unavailable(f"worker {slot.id} restarted while handling this request; it may not have been applied"),
            )
        for space in released:  # their spaces' waiting requests queue for the restarted worker
            self._admit_next(space)

    def _health(self) -> p.Health:
        counts = self._ownership.per_slot
        workers = [p.WorkerStatus(s.id, s.pid, s.alive, s.ready, s.restarts, counts[s.id]) for s in self.pool.slots]
        status = "ok" if all(w.ready for w in workers) else "degraded"
        return p.Health(status, workers, len(self._registry))

    # -- replies ---------------------------------------------------------------------------------------------

    def _reply_ok(self, client: bytes, request_id: int, result: msgspec.Struct) -> None:
        self._frontend.send_multipart([client, p.ok_reply(request_id, result)])

    def _reply_error(self, client: bytes, request_id: int, error: EngramError) -> None:
        info = p.ErrorInfo(error.code.value, error.message, error.hint, error.retry_after_s)
        self._frontend.send_multipart([client, p.error_reply(request_id, info)])


def summary_of(entry: SpaceEntry) -> p.SpaceSummary:
    return p.SpaceSummary(entry.id, entry.dim, entry.created_at, entry.state, entry.policy, entry.deleted_at)


def placement_of(entry: SpaceEntry, fresh: bool = False) -> p.Placement:
    return p.Placement(True, entry.dim, entry.created_at, fresh=fresh, policy=entry.policy)


def deleted_error(space: str) -> EngramError:
    return EngramError(
        ErrorCode.MEMORY_SPACE_DELETED,
        f"Memory space '{space}' was deleted.",
        hint=f'Create it again, empty, with POST /api/v1/spaces {{"id": "{space}"}} (or engram space create '
        f"{space}); until then every request to it is refused.",
    )


def _decode(decoder: msgspec.msgpack.Decoder, body: bytes, op: str):
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as exc:  # includes ValidationError: a policy value out of range
        raise EngramError(ErrorCode.BAD_REQUEST, f"Malformed {op} body: {exc}") from exc
