"""The native client: Engram's operations over ZeroMQ with the msgspec messages of ``engram.protocol``.

    from engram.client import Client

    with Client("tcp://127.0.0.1:7433", space="alpha") as engram:
        engram.remember("The mitochondria is the powerhouse of the cell", tags=["biology"])
        for hit in engram.recall("mitochondria").hits:
            print(hit.memory.id, hit.score, hit.memory.content)

Each call names its space: the ``space=`` argument, else the client's ``space``, else none at all, which the server
answers from its default space (or with MISSING_MEMORY_SPACE when it requires explicit spaces). Failures raise
``EngramError`` with the server's code, message and hint, exactly as REST reports them; a router that does not
answer within ``timeout_s`` is SERVICE_UNAVAILABLE (retry it).

``Client`` is thread-safe: concurrent calls from many threads each borrow their own DEALER socket from a small pool
(ZeroMQ sockets must not be shared between threads), so they run in parallel rather than queueing behind a lock.
``AsyncClient`` serves one asyncio event loop over one socket, matching replies to callers by request id, so any
number of coroutines can await calls at once. Neither may cross a ``fork()``: create one in each process.

Every operation is defined once in ``engram.client_calls`` as a ``Call`` value; the two classes only differ in how
they carry it, so their methods share one signature and one docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

import msgspec
import zmq
import zmq.asyncio

from engram import client_calls as calls
from engram import protocol, wire
from engram.client_calls import Call, memory_in
from engram.config import DEFAULT_EVENTS, DEFAULT_ROUTER
from engram.errors import EngramError, ErrorCode, unavailable
from engram.protocol import EpisodeContext, Filters, MemoryIn
from engram.subscription import AsyncSubscription, Subscription, subscription_space

__all__ = [
    "AsyncClient",
    "Client",
    "EngramError",
    "EpisodeContext",
    "ErrorCode",
    "Filters",
    "MemoryIn",
    "memory_in",
]

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = DEFAULT_ROUTER
DEFAULT_TIMEOUT_S = 30.0
UNAVAILABLE_RETRY_AFTER_S = 1.0
CLOSE_GRACE_S = 1.0

P = ParamSpec("P")
T = TypeVar("T")


def _router_unavailable(message: str) -> EngramError:
    return unavailable(message, UNAVAILABLE_RETRY_AFTER_S)


def _blocking(build: Callable[P, Call[T]], name: str | None = None) -> Callable[Concatenate[Client, P], T]:
    """A ``Client`` method (named ``name``, else as ``build``) that builds a call with ``build`` and runs it."""

    def operation(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(build(*args, **kwargs))

    return _described_as(operation, build, f"Client.{name or build.__name__}")


def _awaitable(
    build: Callable[P, Call[T]], name: str | None = None
) -> Callable[Concatenate[AsyncClient, P], Coroutine[Any, Any, T]]:
    """An ``AsyncClient`` method (named ``name``, else as ``build``) that builds a call with ``build`` and awaits it."""

    async def operation(self: AsyncClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._run(build(*args, **kwargs))

    return _described_as(operation, build, f"AsyncClient.{name or build.__name__}")


def _described_as(operation: Callable[..., Any], build: Callable[..., Any], qualname: str) -> Any:
    """Give a method its name, the docstring of the call it runs and that call's signature (plus ``self``), so
    ``help()`` and editors show the real parameters and result type rather than ``*args, **kwargs``."""
    operation.__qualname__ = qualname
    operation.__name__ = qualname.rpartition(".")[2]
    operation.__doc__ = build.__doc__
    signature = inspect.signature(build)
    result = signature.return_annotation
    if isinstance(result, str) and result.startswith("Call[") and result.endswith("]"):
        result = result.removeprefix("Call[").removesuffix("]")
    self_parameter = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    operation.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[self_parameter, *signature.parameters.values()], return_annotation=result
    )
    return operation


class Client:
    """A thread-safe native client; close it (or use ``with``) to release its sockets.

    ``close()`` lets calls still running on other threads finish (each is bounded by ``timeout_s``); calls after it
    raise ``RuntimeError``. ``events_endpoint`` is the server's events channel (``subscribe``); ``close()`` also
    closes the subscriptions left open (close each one first if another thread still reads it).
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        space: str | None = None,
        events_endpoint: str = DEFAULT_EVENTS,
    ) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.space = space
        self.events_endpoint = events_endpoint
        self._pid = os.getpid()
        self._context = zmq.Context()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._returned = threading.Condition(self._lock)  # notified whenever a lent socket comes back
        self._idle: list[zmq.Socket] = []
        self._lent = 0
        self._closed = False
        self._subscriptions: list[Subscription] = []

    remember = _blocking(calls.remember)
    remember_batch = _blocking(calls.remember_batch)
    remember_episode = _blocking(calls.remember_episode)
    recall = _blocking(calls.recall)
    get = _blocking(calls.get_memory, "get")
    delete = _blocking(calls.delete_memory, "delete")
    list = _blocking(calls.list_memories, "list")
    search = _blocking(calls.search)
    associate = _blocking(calls.associate)
    consolidate = _blocking(calls.consolidate)
    consolidations = _blocking(calls.consolidations)
    consolidation = _blocking(calls.consolidation)
    create_space = _blocking(calls.create_space)
    update_space = _blocking(calls.update_space)
    delete_space = _blocking(calls.delete_space)
    export_space = _blocking(calls.export_space)
    import_space = _blocking(calls.import_space)
    get_space = _blocking(calls.get_space)
    list_spaces = _blocking(calls.list_spaces)
    ping = _blocking(calls.ping)
    status = _blocking(calls.status)

    def subscribe(self, space: str | None = None, last_event_id: str | None = None) -> Subscription:
        """``space``'s events (default: the client's space) from now on, or after ``last_event_id``: an iterator
        of ``engram.events.Event`` (engram/subscription.py); close it when done."""
        chosen = subscription_space(space, self.space)
        subscription = Subscription(self._context, self.events_endpoint, chosen, self._run, last_event_id)
        with self._lock:
            self._subscriptions = [s for s in self._subscriptions if not s.closed] + [subscription]
        return subscription

    def _run(self, call: Call[T]) -> T:
        """Send one call and wait for its result (every operation method ends here)."""
        op = protocol.op_of(call.request)
        request_id = next(self._ids)
        frames = wire.request_frames(call.request, call.header_space(self.space), request_id)
        sock = self._borrow()
        try:
            sock.send_multipart(frames, zmq.NOBLOCK)
            reply = wire.wait_for_reply(sock, request_id, self.timeout_s)
        except zmq.Again:
            self._discard(sock)
            raise _router_unavailable(f"The router at {self.endpoint} is not accepting requests.") from None
        except BaseException:
            self._discard(sock)  # interrupted mid-call: its reply must not greet the socket's next borrower
            raise
        if reply is None:
            self._discard(sock)
            raise _router_unavailable(f"The router at {self.endpoint} did not answer within {self.timeout_s:g} s.")
        self._give_back(sock)
        return call.unwrap(wire.result_of(op, reply))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, []
            for sock in idle:
                sock.close(linger=0)
            # Terminating the context would abort calls in flight with ETERM; let them finish (they are bounded).
            self._returned.wait_for(lambda: self._lent == 0, timeout=self.timeout_s + CLOSE_GRACE_S)
            subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            subscription.close()  # an open socket would keep term() waiting for ever
        self._context.term()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _borrow(self) -> zmq.Socket:
        if os.getpid() != self._pid:
            raise RuntimeError("An engram Client cannot cross fork(); create a new Client in this process.")
        with self._lock:  # held while creating a socket, so close() never terminates the context under it
            if self._closed:
                raise RuntimeError("This engram Client is closed.")
            self._lent += 1
            if self._idle:
                return self._idle.pop()
            sock = self._context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(self.endpoint)
            return sock

    def _give_back(self, sock: zmq.Socket) -> None:
        with self._lock:
            if self._closed:
                sock.close(linger=0)
            else:
                self._idle.append(sock)
            self._lent -= 1
            self._returned.notify_all()

    def _discard(self, sock: zmq.Socket) -> None:
        with self._lock:
            sock.close(linger=0)
            self._lent -= 1
            self._returned.notify_all()


class AsyncClient:
    """An asyncio native client for one event loop; ``await client.close()`` (or ``async with``) when done, which
    also closes its subscriptions. ``events_endpoint`` is the server's events channel (``subscribe``)."""

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        space: str | None = None,
        events_endpoint: str = DEFAULT_EVENTS,
    ) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.space = space
        self.events_endpoint = events_endpoint
        self._subscriptions: list[AsyncSubscription] = []
        self._pid = os.getpid()
        self._context = zmq.asyncio.Context()
        self._ids = itertools.count(1)
        self._socket: zmq.asyncio.Socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[protocol.Reply]] = {}
        self._closed = False

    remember = _awaitable(calls.remember)
    remember_batch = _awaitable(calls.remember_batch)
    remember_episode = _awaitable(calls.remember_episode)
    recall = _awaitable(calls.recall)
    get = _awaitable(calls.get_memory, "get")
    delete = _awaitable(calls.delete_memory, "delete")
    list = _awaitable(calls.list_memories, "list")
    search = _awaitable(calls.search)
    associate = _awaitable(calls.associate)
    consolidate = _awaitable(calls.consolidate)
    consolidations = _awaitable(calls.consolidations)
    consolidation = _awaitable(calls.consolidation)
    create_space = _awaitable(calls.create_space)
    update_space = _awaitable(calls.update_space)
    delete_space = _awaitable(calls.delete_space)
    export_space = _awaitable(calls.export_space)
    import_space = _awaitable(calls.import_space)
    get_space = _awaitable(calls.get_space)
    list_spaces = _awaitable(calls.list_spaces)
    ping = _awaitable(calls.ping)
    status = _awaitable(calls.status)

    async def subscribe(self, space: str | None = None, last_event_id: str | None = None) -> AsyncSubscription:
        """``space``'s events (default: the client's space) from now on, or after ``last_event_id``: an async
        iterator of ``engram.events.Event`` (engram/subscription.py), subscribed when this returns; close it when
        done (``close()`` of the client closes it too)."""
        chosen = subscription_space(space, self.space)
        self._connected()  # the same checks as a call: this process, this loop, not closed
        subscription = await AsyncSubscription.open(
            self._context, self.events_endpoint, chosen, self._run, last_event_id
        )
        self._subscriptions = [s for s in self._subscriptions if not s.closed] + [subscription]
        return subscription

    async def _run(self, call: Call[T]) -> T:
        """Send one call and await its result (every operation method ends here)."""
        op = protocol.op_of(call.request)
        sock = self._connected()
        request_id = next(self._ids)
        frames = wire.request_frames(call.request, call.header_space(self.space), request_id)
        answered: asyncio.Future[protocol.Reply] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = answered
        try:
            async with asyncio.timeout(self.timeout_s):
                await sock.send_multipart(frames)
                reply = await answered
        except TimeoutError:
            raise _router_unavailable(
                f"The router at {self.endpoint} did not answer within {self.timeout_s:g} s."
            ) from None
        finally:
            self._waiting.pop(request_id, None)
        return call.unwrap(wire.result_of(op, reply))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for subscription in self._subscriptions:
            await subscription.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for answered in self._waiting.values():
            if not answered.done():
                answered.set_exception(RuntimeError("The engram AsyncClient was closed during this call."))
        if self._socket is not None:
            self._socket.close(linger=0)
        self._context.term()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _connected(self) -> zmq.asyncio.Socket:
        """The one socket, with its reply reader, created on first use in the running loop."""
        if os.getpid() != self._pid:
            raise RuntimeError("An engram AsyncClient cannot cross fork(); create a new one in this process.")
        if self._closed:
            raise RuntimeError("This engram AsyncClient is closed.")
        loop = asyncio.get_running_loop()
        if self._socket is None:
            self._socket = self._context.socket(zmq.DEALER)
            self._socket.setsockopt(zmq.LINGER, 0)
            self._socket.connect(self.endpoint)
            self._loop = loop
            self._reader = loop.create_task(self._read_replies(self._socket))
        elif loop is not self._loop:
            raise RuntimeError("An engram AsyncClient serves one event loop; create one per loop.")
        return self._socket

    async def _read_replies(self, sock: zmq.asyncio.Socket) -> None:
        """Hand each reply to the call awaiting its request id; replies nobody awaits any more are dropped."""
        try:
            while True:
                frames = await sock.recv_multipart()
                try:
                    reply = wire.decode_reply(frames[-1])
                except msgspec.DecodeError:
                    log.warning("dropping a malformed reply frame from %s", self.endpoint)
                    continue
                answered = self._waiting.get(reply.request_id)
                if answered is not None and not answered.done():
                    answered.set_result(reply)
        except zmq.ZMQError as exc:
            failure = _router_unavailable(f"The connection to the router at {self.endpoint} failed: {exc}.")
            for answered in self._waiting.values():
                if not answered.done():
                    answered.set_exception(failure)
