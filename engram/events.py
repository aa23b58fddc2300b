"""Events of a memory space, as workers publish them and SSE streams and ``Client.subscribe`` deliver them.

A worker publishes an event only for an operation it acknowledged (after the batch's fsync, never for a failed
one), on a PUB socket whose messages the router forwards to its public XPUB socket (``config.events``). Each message
is two frames: the topic (the space id and a NUL byte, so a subscriber to "alpha" never prefix-matches "alpha2")
and the msgpack ``Event``.

Event ids are ``<incarnation>-<seq>``: ``seq`` counts one space's events from 1 in one worker incarnation (a random
token drawn when the worker starts). Within an incarnation a subscriber can therefore tell a duplicate (seq at or
below its cursor) from a gap (seq beyond cursor + 1, e.g. an event published before its subscription reached the
worker, or dropped at a high-water mark): a gap is filled from the worker's ring of recent events (the native op
``events_since``), which also serves ``Last-Event-ID`` resume. ``Follower`` holds that logic once for every reader.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, NamedTuple

import msgspec

EVENT_TYPES = ("stored", "recalled", "deleted", "activation", "consolidated")
RING_SIZE = 1000
"""Events a worker keeps per space for resume; a resume id older than the ring gets the whole ring."""
SETTLE_S = 3.0
"""After subscribing, how long a quiet stream keeps asking the ring for events its subscription was too late for."""
SETTLE_FIRST_POLL_S = 0.05
"""The first of those catch-ups; each next one waits twice as long (about six calls in all)."""
FROM_START = ""
"""An ``after_id`` that names no event of the current incarnation: ``events_since`` answers the whole ring."""


class Event(msgspec.Struct, frozen=True, gc=False):
    """One event: ``type`` is one of ``EVENT_TYPES``; ``data`` its fields (docs/events.md).

    ``gc=False``: a worker keeps the last ``RING_SIZE`` of every space, which the garbage collector would walk in
    each full pass (docs/storage.md, "Garbage collection"); an event holds plain data and is in no reference
    cycle."""

    id: str
    type: str
    memory_space_id: str
    timestamp: float
    data: dict[str, Any] = {}


class EventsSince(msgspec.Struct, tag="events_since", omit_defaults=True):
    """Native op: the space's events after ``after_id`` from its worker's ring. None: no events, only ``last_id``
    (where a new subscriber starts); an id of another incarnation, or older than the ring: the whole ring."""

    after_id: str | None = None


class EventBacklog(msgspec.Struct):
    """The answer to ``events_since``: events in order, and the newest id of the space in the worker's current
    incarnation (None when it published none yet)."""

    events: list[Event]
    last_id: str | None = None


class EventId(NamedTuple):
    incarnation: str
    seq: int


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Event)


def topic(space: str) -> bytes:
    """The subscription prefix of one space's events: its id and NUL, so no space's topic prefixes another's."""
    return space.encode() + b"\0"


def event_frames(event: Event) -> list[bytes]:
    return [topic(event.memory_space_id), _ENCODER.encode(event)]


def decode_event(frames: list[bytes]) -> Event:
    return _DECODER.decode(frames[-1])


def format_id(incarnation: str, seq: int) -> str:
    return f"{incarnation}-{seq}"


def parse_id(event_id: str | None) -> EventId | None:
    """The parts of an event id, or None for anything that is not one (then it names no event: whole ring)."""
    if not event_id:
        return None
    incarnation, _, seq = event_id.strip().rpartition("-")
    if not incarnation or not seq.isdigit():
        return None
    return EventId(incarnation, int(seq))


class Follower:
    """What ``follow`` decides, without the waiting, so the blocking and the asyncio readers share it: which live
    events to deliver, when to catch up from the worker's ring, and when a quiet stream is due a heartbeat."""

    def __init__(self, backlog: EventBacklog, idle_s: float) -> None:
        self._cursor = parse_id(backlog.last_id)
        self._idle_s = idle_s
        self._started = self._last_sent = time.monotonic()
        self._settle_poll_s = SETTLE_FIRST_POLL_S

    @property
    def after(self) -> str:
        """The ``after_id`` to ask the ring with (``since``)."""
        return format_id(*self._cursor) if self._cursor else FROM_START

    def wait_s(self) -> float:
        """How long to wait for the next live event: until the next heartbeat, and at growing intervals while the
        subscription may still be settling (``SETTLE_S``)."""
        now = time.monotonic()
        wait_s = self._idle_s - (now - self._last_sent)
        if now - self._started < SETTLE_S:
            wait_s = min(wait_s, self._settle_poll_s)
            self._settle_poll_s *= 2
        return max(wait_s, 0.001)

    def take(self, event: Event | None) -> bool | None:
        """A live event, or None when the wait passed without one. True: deliver it; False: drop it (seen already);
        None: ask the ring (``since(self.after)``) and hand its answer to ``caught_up``."""
        if event is None:
            return None
        current = parse_id(event.id)
        if current is None or _seen(self._cursor, current):
            return False
        if not _follows(self._cursor, current):
            return None  # a gap (or a new incarnation of the space's worker)
        self._cursor = current
        self._last_sent = time.monotonic()
        return True

    def caught_up(self, backlog: EventBacklog, quiet: bool) -> list[Event | None]:
        """What to deliver from the ring's answer: the events not delivered yet, else a heartbeat (None) when the
        stream was ``quiet`` for ``idle_s``, else nothing."""
        missed = [e for e in backlog.events if _new(self._cursor, e)]
        if missed:
            self._cursor = parse_id(missed[-1].id)
            self._last_sent = time.monotonic()
            return list(missed)
        if quiet and time.monotonic() - self._last_sent >= self._idle_s:
            self._last_sent = time.monotonic()
            return [None]
        return []


def follow(
    receive: Callable[[float], Event | None],
    since: Callable[[str | None], EventBacklog],
    backlog: EventBacklog,
    idle_s: float,
) -> Iterator[Event | None]:
    """Every event of one space in order, exactly once: first the ``backlog`` (``since(last_event_id)``, asked
    by the caller so that its errors come before streaming starts), then live ones; ``None`` whenever ``idle_s``
    passed without one (time for a heartbeat).

    ``receive(timeout_s)`` reads the next live event of the space from a SUB socket that was subscribed *before*
    the backlog was asked for. A subscription takes a moment to reach the worker, so an event published meanwhile
    may never arrive live: it is found by the next live event's id (a gap), or by asking ``since(cursor)`` when the
    socket stays quiet (at growing intervals while ``SETTLE_S`` has not passed, then at every heartbeat).
    """
    follower = Follower(backlog, idle_s)
    yield from backlog.events
    while True:
        event = receive(follower.wait_s())
        verdict = follower.take(event)
        if verdict is None:
            yield from follower.caught_up(since(follower.after), quiet=event is None)
        elif verdict:
            yield event


async def follow_async(
    receive: Callable[[float], Awaitable[Event | None]],
    since: Callable[[str | None], Awaitable[EventBacklog]],
    backlog: EventBacklog,
    idle_s: float,
) -> AsyncIterator[Event | None]:
    """``follow`` for asyncio: the same events, with ``receive`` and ``since`` awaited."""
    follower = Follower(backlog, idle_s)
    for event in backlog.events:
        yield event
    while True:
        event = await receive(follower.wait_s())
        verdict = follower.take(event)
        if verdict is None:
            for found in follower.caught_up(await since(follower.after), quiet=event is None):
                yield found
        elif verdict:
            yield event


def _seen(cursor: EventId | None, current: EventId) -> bool:
    return cursor is not None and current.incarnation == cursor.incarnation and current.seq <= cursor.seq


def _follows(cursor: EventId | None, current: EventId) -> bool:
    if cursor is None:
        return current.seq == 1
    return current.incarnation == cursor.incarnation and current.seq == cursor.seq + 1


def _new(cursor: EventId | None, event: Event) -> bool:
    current = parse_id(event.id)
    return current is not None and not _seen(cursor, current)
