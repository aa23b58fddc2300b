"""The router's one loop: take requests from clients, answer registry ops, forward the rest to the owning worker,
pass replies back, and supervise the workers.

Frontend (ROUTER, ``config.router``): clients send ``[header, body]`` from DEALER sockets.
Backend (ROUTER, an ephemeral loopback port): workers connect with identity ``w<id>``; the router sends
``[ticket, header, body, placement]`` and receives ``[ticket, reply]`` (or ``[b"", WorkerReady]``).

A request for a worker that is down waits in that worker's queue for at most ``WORKER_WAIT_S`` (503 after that); a
request already forwarded to a worker that dies is answered 503 at once, since the router cannot know whether it was
applied. Other workers' spaces are never delayed by any of this.
"""

from __future__ import annotations

import itertools
import logging
import signal
import time
from collections import deque
from dataclasses import dataclass

import msgspec
import zmq

from engram import protocol as p
from engram.config import ABSOLUTE_MAX_DIM, Config
from engram.errors import EngramError, ErrorCode, unavailable
from engram.ids import validate_space_id
from router.placement import owner
from router.registry import Registry
from router.supervision import WorkerPool, WorkerSlot, worker_identity

log = logging.getLogger(__name__)

POLL_INTERVAL_MS = 50
WORKER_WAIT_S = 10.0
_CREATE_DECODER = msgspec.msgpack.Decoder(p.CreateSpace)


@dataclass
class _Pending:
    client: bytes
    request_id: int
    worker: int


@dataclass
class _Queued:
    deadline: float
    client: bytes
    request_id: int
    frames: list[bytes]


class Broker:
    def __init__(self, config: Config, registry: Registry) -> None:
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
        self.pool = WorkerPool(config, self.backend_endpoint)
        self._tickets = itertools.count(1)
        self._pending: dict[bytes, _Pending] = {}
        self._queues: dict[int, deque[_Queued]] = {slot.id: deque() for slot in self.pool.slots}
        self._stopping = False

    # -- main loop -------------------------------------------------------------------------------------------

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        self.pool.start_all()
        poller = zmq.Poller()
        poller.register(self._frontend, zmq.POLLIN)
        poller.register(self._backend, zmq.POLLIN)
        log.info("router listening on %s, %d workers", self._config.router, len(self.pool.slots))
        try:
            while not self._stopping:
                events = dict(poller.poll(POLL_INTERVAL_MS))
                if self._backend in events:
                    self._drain(self._backend, self._on_backend)
                if self._frontend in events:
                    self._drain(self._frontend, self._on_frontend)
                self._supervise()
        finally:
            self.pool.stop_all()
            self._frontend.close()
            self._backend.close()
            self._context.term()

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
        for worker, queue in self._queues.items():
            while queue and queue[0].deadline <= now:
                item = queue.popleft()
                self._reply_error(
                    item.client,
                    item.request_id,
                    unavailable(f"worker {worker} did not come back within {WORKER_WAIT_S:g} s", 2.0),
                )

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
            spaces = [p.SpaceSummary(e.id, e.dim, e.created_at, e.state) for e in self._registry.entries()]
            self._reply_ok(client, header.request_id, p.SpaceList(spaces))
        elif header.op == "create_space":
            self._create_space(client, header, body)
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
            return self._config.default_space
        return validate_space_id(header.space, source="memory space in the request header")

    def _create_space(self, client: bytes, header: p.Header, body: bytes) -> None:
        space = self._resolve_space(header)
        try:
            requested = _CREATE_DECODER.decode(body).dim
        except msgspec.DecodeError as exc:
            raise EngramError(ErrorCode.BAD_REQUEST, f"Malformed create_space body: {exc}") from exc
        dim = requested or self._config.default_dim
        if not 1 <= dim <= ABSOLUTE_MAX_DIM:
            raise EngramError(
                ErrorCode.INVALID_MEMORY_INPUT,
                f"Dimension must be between 1 and {ABSOLUTE_MAX_DIM}, got {dim}.",
                hint="Use the dimension of your embedding model, e.g. 384 or 768.",
            )
        entry, created = self._registry.create(space, dim)
        if requested is not None and entry.dim != requested:
            raise EngramError(
                ErrorCode.DIMENSION_CONFLICT,
                f"Memory space '{space}' already exists with dimension {entry.dim}, not {requested}.",
                hint=f"Omit 'dim' or pass {entry.dim}, or create a space with another id.",
            )
        self._forward(client, header, body, space, p.Placement(True, entry.dim, entry.created_at, fresh=created))

    def _forward_space_op(self, client: bytes, header: p.Header, body: bytes) -> None:
        space = self._resolve_space(header)
        entry = self._registry.get(space)
        fresh = False
        if entry is None and header.op == "get_space":
            raise EngramError(
                ErrorCode.MEMORY_SPACE_NOT_FOUND,
                f"Memory space '{space}' not found.",
                hint="List spaces with GET /api/v1/spaces, or create it with POST /api/v1/spaces.",
            )
        if entry is None and header.op in p.CREATING_OPS:
            entry, fresh = self._registry.create(space, self._config.default_dim)
        if entry is None:
            placement = p.Placement(False, self._config.default_dim)
        else:
            placement = p.Placement(True, entry.dim, entry.created_at, fresh=fresh)
        self._forward(client, header, body, space, placement)

    def _forward(self, client: bytes, header: p.Header, body: bytes, space: str, placement: p.Placement) -> None:
        worker = owner(space, len(self.pool.slots))
        if header.space != space:  # the worker always sees the resolved space
            header = p.Header(header.version, header.request_id, header.op, space)
        ticket = next(self._tickets).to_bytes(8, "big")
        frames = [ticket, p.ENCODER.encode(header), body, p.ENCODER.encode(placement)]
        queue = self._queues[worker]
        if queue or not self._send_to_worker(worker, frames):
            queue.append(_Queued(time.monotonic() + WORKER_WAIT_S, client, header.request_id, frames))
            return
        self._pending[ticket] = _Pending(client, header.request_id, worker)

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
        if pending is not None:  # None: its worker was declared dead and the client already got a 503
            self._frontend.send_multipart([pending.client, frames[2]])

    def _on_control(self, identity: bytes, payload: bytes) -> None:
        ready = p.CONTROL_DECODER.decode(payload)
        slot = self.pool.slots[ready.worker_id]
        if slot.pid != ready.pid:
            log.warning("ignoring ready message from stale worker pid %d", ready.pid)
            return
        slot.ready = True
        log.info("worker %d ready (pid %d)", slot.id, ready.pid)
        self._flush_queue(slot)

    def _flush_queue(self, slot: WorkerSlot) -> None:
        """Send what waited for this worker, oldest first, as long as it accepts."""
        queue = self._queues[slot.id]
        while queue:
            item = queue[0]
            if not self._send_to_worker(slot.id, item.frames):
                return
            queue.popleft()
            self._pending[item.frames[0]] = _Pending(item.client, item.request_id, slot.id)

    def _fail_pending(self, slot: WorkerSlot) -> None:
        lost = [ticket for ticket, pending in self._pending.items() if pending.worker == slot.id]
        for ticket in lost:
            pending = self._pending.pop(ticket)
            self._reply_error(
                pending.client,
                pending.request_id,
                unavailable(f"worker {slot.id} restarted while handling this request; it may not have been applied"),
            )

    def _health(self) -> p.Health:
        counts = [0] * len(self.pool.slots)
        for entry in self._registry.entries():
            counts[owner(entry.id, len(counts))] += 1
        workers = [p.WorkerStatus(s.id, s.pid, s.alive, s.ready, s.restarts, counts[s.id]) for s in self.pool.slots]
        status = "ok" if all(w.ready for w in workers) else "degraded"
        return p.Health(status, workers, len(self._registry))

    # -- replies ---------------------------------------------------------------------------------------------

    def _reply_ok(self, client: bytes, request_id: int, result: msgspec.Struct) -> None:
        self._frontend.send_multipart([client, p.ok_reply(request_id, result)])

    def _reply_error(self, client: bytes, request_id: int, error: EngramError) -> None:
        info = p.ErrorInfo(error.code.value, error.message, error.hint, error.retry_after_s)
        self._frontend.send_multipart([client, p.error_reply(request_id, info)])
