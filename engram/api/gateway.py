"""The API's one way to reach the router: a request out, its reply back, over a ZeroMQ DEALER socket.

gunicorn forks its workers after importing the app, and a ZeroMQ context must never cross a fork, so
everything ZeroMQ is created lazily in the process that uses it: one context per process (checked by pid on
every call) and one socket per thread and gateway (gthread workers serve requests from several threads; ZeroMQ
sockets are not thread-safe).
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections.abc import Iterator
from typing import NamedTuple, Protocol

import msgspec
import zmq

from engram import protocol, wire
from engram.errors import unavailable

log = logging.getLogger(__name__)

UNAVAILABLE_RETRY_AFTER_S = 1.0


class Gateway(Protocol):
    """What the routes need from the router; tests substitute a fake that records calls."""

    def call(self, request: protocol.Request, space: str | None) -> msgspec.Struct: ...


class RouterGateway:
    """Send one request to the router and wait (bounded by ``timeout_s``) for its reply.

    A reply carrying an error is raised as the same ``EngramError`` the worker or router raised; a router that
    does not answer in time is a 503 the client should retry. After a timeout the thread's socket is closed
    and replaced, so a late reply can never be taken for the answer to a later request (replies are matched by
    request id too).
    """

    def __init__(self, endpoint: str, timeout_s: float) -> None:
        self._endpoint = endpoint
        self._timeout_s = timeout_s
        self._local = threading.local()

    def call(self, request: protocol.Request, space: str | None) -> msgspec.Struct:
        """Send ``request`` for ``space`` (None: the router's default-space rules); return its result."""
        state = _process_state()
        sock = self._socket(state)
        request_id = next(state.request_ids)
        try:
            sock.send_multipart(wire.request_frames(request, space, request_id), flags=zmq.NOBLOCK)
        except zmq.Again:
            self._discard_socket()
            raise unavailable(
                f"The router at {self._endpoint} is not accepting requests.", UNAVAILABLE_RETRY_AFTER_S
            ) from None
        reply = wire.wait_for_reply(sock, request_id, self._timeout_s)
        if reply is None:
            self._discard_socket()
            raise unavailable(
                f"The router at {self._endpoint} did not answer within {self._timeout_s:g} s.",
                UNAVAILABLE_RETRY_AFTER_S,
            )
        return wire.result_of(protocol.op_of(request), reply)

    def _socket(self, state: _ProcessState) -> zmq.Socket:
        """This thread's socket; a socket inherited through a fork belongs to the parent and is never used."""
        sock: zmq.Socket | None = getattr(self._local, "socket", None)
        if sock is None or self._local.pid != state.pid:
            sock = state.context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(self._endpoint)
            self._local.socket, self._local.pid = sock, state.pid
        return sock

    def _discard_socket(self) -> None:
        sock: zmq.Socket | None = getattr(self._local, "socket", None)
        if sock is not None:
            sock.close(linger=0)
            self._local.socket = None


class _ProcessState(NamedTuple):
    """ZeroMQ state that must never cross a fork: the process's one context, and its request ids."""

    pid: int
    context: zmq.Context
    request_ids: Iterator[int]


_state: _ProcessState | None = None
_state_lock = threading.Lock()


def _process_state() -> _ProcessState:
    """This process's ZeroMQ state, created on first use in each process (so after gunicorn forks).

    The context lives as long as the process: terminating it would block on any thread's socket still open.
    """
    global _state
    pid = os.getpid()
    state = _state
    if state is not None and state.pid == pid:
        return state
    with _state_lock:
        if _state is None or _state.pid != pid:
            # The parent's context is unusable here; a child drops it (never closes it), as ZeroMQ asks.
            _state = _ProcessState(pid, zmq.Context(), itertools.count(1))
        return _state
