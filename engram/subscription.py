"""Subscriptions to one space's events over a SUB socket on the server's events channel: ``Client.subscribe`` (an
iterator) and ``AsyncClient.subscribe`` (an async iterator).

The subscription is made, and the backlog (events after ``last_event_id``) asked for, when ``subscribe`` returns, so
every event acknowledged from then on is delivered, in order and once (engram.events.Follower: gaps are filled from
the worker's ring). Iterating waits for the next event; ``next_event(timeout_s)`` waits at most that long.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import zmq
import zmq.asyncio

from engram.client_calls import Call
from engram.events import Event, EventBacklog, EventsSince, decode_event, follow, follow_async, topic

IDLE_TICK_S = 1.0
"""How often a quiet subscription asks the ring whether it missed anything; also ``next_event``'s granularity."""


def subscription_space(space: str | None, default: str | None) -> str:
    """The space to subscribe to: ``space``, else the client's; a subscription needs one."""
    chosen = space if space is not None else default
    if chosen is None:
        raise ValueError("subscribe needs a space: pass one, or create the client with space=...")
    return chosen


def _sub_socket(context: zmq.Context, endpoint: str, space: str) -> zmq.Socket:
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(endpoint)
    sub.setsockopt(zmq.SUBSCRIBE, topic(space))
    return sub


def _poll_ms(timeout_s: float) -> int:
    return max(1, int(timeout_s * 1000))


class Subscription:
    """An iterator of ``Event``; close it (or use ``with``) to release its socket."""

    def __init__(
        self, context: zmq.Context, endpoint: str, space: str, since: Callable[[Call[Any]], Any], last_event_id=None
    ) -> None:
        self.space = space
        self._sub = _sub_socket(context, endpoint, space)
        self._since = lambda after: since(Call(EventsSince(after), space))
        try:
            backlog: EventBacklog = self._since(last_event_id)
        except BaseException:
            self._sub.close(linger=0)
            raise
        self._events: Iterator[Event | None] = follow(self._receive, self._since, backlog, IDLE_TICK_S)
        self.closed = False

    def _receive(self, timeout_s: float) -> Event | None:
        if not self._sub.poll(_poll_ms(timeout_s), zmq.POLLIN):
            return None
        return decode_event(self._sub.recv_multipart())

    def next_event(self, timeout_s: float) -> Event | None:
        """The next event, or None when none came within ``timeout_s`` (rounded up to ``IDLE_TICK_S``)."""
        deadline = time.monotonic() + timeout_s
        while (event := next(self._events)) is None:
            if time.monotonic() >= deadline:
                return None
        return event

    def __iter__(self) -> Iterator[Event]:
        for event in self._events:
            if event is not None:
                yield event

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._events.close()
        self._sub.close(linger=0)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncSubscription:
    """An async iterator of ``Event``, made by ``await AsyncClient.subscribe(...)``; ``await close()`` it (or use
    ``async with``) to release its socket. Serves the event loop of the client that made it."""

    def __init__(
        self, sub: zmq.asyncio.Socket, space: str, since: Callable[[str | None], Awaitable[EventBacklog]], backlog
    ) -> None:
        self.space = space
        self._sub = sub
        self._events: AsyncIterator[Event | None] = follow_async(self._receive, since, backlog, IDLE_TICK_S)
        self.closed = False

    @classmethod
    async def open(
        cls,
        context: zmq.asyncio.Context,
        endpoint: str,
        space: str,
        since: Callable[[Call[Any]], Awaitable[Any]],
        last_event_id: str | None = None,
    ) -> AsyncSubscription:
        """Subscribe, then ask the backlog: every event acknowledged from then on is delivered."""
        sub = _sub_socket(context, endpoint, space)

        def ask(after: str | None) -> Awaitable[EventBacklog]:
            return since(Call(EventsSince(after), space))

        try:
            backlog = await ask(last_event_id)
        except BaseException:
            sub.close(linger=0)
            raise
        return cls(sub, space, ask, backlog)

    async def _receive(self, timeout_s: float) -> Event | None:
        if not await self._sub.poll(_poll_ms(timeout_s), zmq.POLLIN):
            return None
        return decode_event(await self._sub.recv_multipart())

    async def next_event(self, timeout_s: float) -> Event | None:
        """The next event, or None when none came within ``timeout_s`` (rounded up to ``IDLE_TICK_S``)."""
        deadline = time.monotonic() + timeout_s
        while (event := await anext(self._events)) is None:
            if time.monotonic() >= deadline:
                return None
        return event

    async def __aiter__(self) -> AsyncIterator[Event]:
        async for event in self._events:
            if event is not None:
                yield event

    async def close(self) -> None:
        """Release the socket. Close it from the task that iterates it, or once that task stopped waiting on it: a
        wait still running elsewhere ends with an error of the closed socket."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(RuntimeError):  # "already running": another task is waiting in it
            await self._events.aclose()  # type: ignore[attr-defined]
        self._sub.close(linger=0)

    async def __aenter__(self) -> AsyncSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
