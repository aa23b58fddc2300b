"""The API's one way to reach the router: a request out, its reply back, over a ZeroMQ DEALER socket.

gunicorn forks its workers after importing the app, and a ZeroMQ context must never cross a fork, so everything
ZeroMQ is created lazily in the process that uses it: one context per process (checked by pid on every call) and a
small pool of DEALER sockets per process and gateway. A call borrows a socket for its duration and returns it, so
concurrent requests never share one (ZeroMQ sockets are not thread-safe) and idle ones are reused. A pool rather
than per-thread or per-greenlet sockets: under gevent (ops/gunicorn.md) every connection is a new greenlet, and
greenlet-local sockets would leak one socket per request.

Under gevent (``gevent.monkey`` patched ``socket``), the context comes from ``zmq.green``, whose sockets wait by
yielding to the hub instead of blocking the process's one thread; the SSE streams' SUB sockets (engram/api/events.py)
use the same context.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import threading
from collections.abc import Iterator
from typing import NamedTuple, Protocol

import msgspec
import zmq

from engram import protocol, wire
from engram.errors import unavailable

log = logging.getLogger(__name__)

UNAVAILABLE_RETRY_AFTER_S = 1.0
MAX_IDLE_SOCKETS = 64
"""Idle sockets a process keeps per gateway; more concurrent calls than this open and close their extra sockets."""


class Gateway(Protocol):
    """What the routes need from the router; tests substitute a fake that records calls."""

    def call(self, request: protocol.Request, space: str | None) -> msgspec.Struct: ...


class RouterGateway:
    """Send one request to the router and wait (bounded by ``timeout_s``) for its reply.

    A reply carrying an error is raised as the same ``EngramError`` the worker or router raised; a router that
    does not answer in time is a 503 the client should retry. After a timeout the borrowed socket is closed instead
    of returned, so a late reply can never be taken for the answer to a later request (replies are matched by
    request id too).
    """

    def __init__(self, endpoint: str, timeout_s: float) -> None:
        self._endpoint = endpoint
        self._timeout_s = timeout_s
        self._pool_pid = 0
        self._idle: list[zmq.Socket] = []
        self._lock = threading.Lock()  # patched into a gevent lock under gevent

    def call(self, request: protocol.Request, space: str | None) -> msgspec.Struct:
        """Send ``request`` for ``space`` (None: the router's default-space rules); return its result."""
        state = process_state()
        sock = self._borrow(state)
        request_id = next(state.request_ids)
        try:
            sock.send_multipart(wire.request_frames(request, space, request_id), flags=zmq.NOBLOCK)
        except zmq.Again:
            sock.close(linger=0)
            raise unavailable(
                f"The router at {self._endpoint} is not accepting requests.", UNAVAILABLE_RETRY_AFTER_S
            ) from None
        try:
            reply = wire.wait_for_reply(sock, request_id, self._timeout_s)
        except BaseException:
            sock.close(linger=0)  # interrupted mid-call (e.g. a greenlet killed): its reply must not greet another
            raise
        if reply is None:
            sock.close(linger=0)
            raise unavailable(
                f"The router at {self._endpoint} did not answer within {self._timeout_s:g} s.",
                UNAVAILABLE_RETRY_AFTER_S,
            )
        self._give_back(sock, state)
        return wire.result_of(protocol.op_of(request), reply)

    def _borrow(self, state: _ProcessState) -> zmq.Socket:
        """An idle socket of this process, or a new one; sockets inherited through a fork are never used."""
        with self._lock:
            if self._pool_pid != state.pid:
                self._idle, self._pool_pid = [], state.pid  # the parent's sockets: dropped, never closed
            if self._idle:
                return self._idle.pop()
        sock = state.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self._endpoint)
        return sock

    def _give_back(self, sock: zmq.Socket, state: _ProcessState) -> None:
        with self._lock:
            if self._pool_pid == state.pid and len(self._idle) < MAX_IDLE_SOCKETS:
                self._idle.append(sock)
                return
        sock.close(linger=0)


class _ProcessState(NamedTuple):
    """ZeroMQ state that must never cross a fork: the process's one context, and its request ids."""

    pid: int
    context: zmq.Context
    request_ids: Iterator[int]


_state: _ProcessState | None = None
_state_lock = threading.Lock()


def process_state() -> _ProcessState:
    """This process's ZeroMQ state, created on first use in each process (so after gunicorn forks).

    The context lives as long as the process: terminating it would block on any socket still open.
    """
    global _state
    pid = os.getpid()
    state = _state
    if state is not None and state.pid == pid:
        return state
    with _state_lock:
        if _state is None or _state.pid != pid:
            # The parent's context is unusable here; a child drops it (never closes it), as ZeroMQ asks.
            _state = _ProcessState(pid, _new_context(), itertools.count(1))
        return _state


def running_under_gevent() -> bool:
    """True in a process whose sockets gevent patched (gunicorn's gevent workers patch before serving)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("socket")


def _new_context() -> zmq.Context:
    if running_under_gevent():
        import zmq.green as green  # imported only under gevent: it imports gevent

        return green.Context()
    return zmq.Context()
