"""``Client.subscribe(space)``: one space's events as an iterator, over a SUB socket on the server's events channel.

The subscription is made, and the backlog (events after ``last_event_id``) asked for, when ``subscribe`` returns, so
every event acknowledged from then on is delivered, in order and once (engram.events.follow: gaps are filled from
the worker's ring). Iterating blocks until the next event; ``next_event(timeout_s)`` waits at most that long.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import zmq

from engram.client_calls import Call
from engram.events import Event, EventBacklog, EventsSince, decode_event, follow, topic

IDLE_TICK_S = 1.0
"""How often a quiet subscription asks the ring whether it missed anything; also ``next_event``'s granularity."""


class Subscription:
    """An iterator of ``Event``; close it (or use ``with``) to release its socket."""

    def __init__(
        self, context: zmq.Context, endpoint: str, space: str, since: Callable[[Call[Any]], Any], last_event_id=None
    ) -> None:
        self.space = space
        self._sub = context.socket(zmq.SUB)
        self._sub.setsockopt(zmq.LINGER, 0)
        self._sub.connect(endpoint)
        self._sub.setsockopt(zmq.SUBSCRIBE, topic(space))
        self._since = lambda after: since(Call(EventsSince(after), space))
        try:
            backlog: EventBacklog = self._since(last_event_id)
        except BaseException:
            self._sub.close(linger=0)
            raise
        self._events: Iterator[Event | None] = follow(self._receive, self._since, backlog, IDLE_TICK_S)

    def _receive(self, timeout_s: float) -> Event | None:
        if not self._sub.poll(max(1, int(timeout_s * 1000)), zmq.POLLIN):
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
        self._events.close()
        self._sub.close(linger=0)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
