"""Events of a memory space, as workers publish them and SSE streams and ``Client.subscribe`` deliver them.

A worker publishes an event only for an operation it acknowledged (after the batch's fsync, never for a failed
one), on a PUB socket whose messages the router forwards to its public XPUB socket (``config.events``). Each message
is two frames: the topic (the space id and a NUL byte, so a subscriber to "alpha" never prefix-matches "alpha2")
and the msgpack ``Event``.

Event ids are ``<incarnation>-<seq>``: ``seq`` counts one space's events from 1 in one worker incarnation (a random
token drawn when the worker starts). Within an incarnation a subscriber can therefore tell a duplicate (seq at or
below its cursor) from a gap (seq beyond cursor + 1, e.g. an event published before its subscription reached the
worker, or dropped at a high-water mark): a gap is filled from the worker's ring of recent events (the native op
``events_since``), which also serves ``Last-Event-ID`` resume. ``follow`` holds that logic once for both readers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
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
    cursor = parse_id(backlog.last_id)
    yield from backlog.events
    started = last_sent = time.monotonic()
    settle_poll_s = SETTLE_FIRST_POLL_S
    while True:
        now = time.monotonic()
        wait_s = idle_s - (now - last_sent)
        if now - started < SETTLE_S:
            wait_s = min(wait_s, settle_poll_s)
            settle_poll_s *= 2
        event = receive(max(wait_s, 0.001))
        if event is not None:
            current = parse_id(event.id)
            if current is None or _seen(cursor, current):
                continue
            if _follows(cursor, current):
                cursor = current
                last_sent = time.monotonic()
                yield event
                continue
        # A gap (or a new incarnation of the space's worker), or a quiet socket: catch up from the ring.
        missed = [e for e in since(format_id(*cursor) if cursor else FROM_START).events if _new(cursor, e)]
        for found in missed:
            cursor = parse_id(found.id)
            yield found
        if missed:
            last_sent = time.monotonic()
        elif event is None and time.monotonic() - last_sent >= idle_s:
            last_sent = time.monotonic()
            yield None


def _seen(cursor: EventId | None, current: EventId) -> bool:
    return cursor is not None and current.incarnation == cursor.incarnation and current.seq <= cursor.seq


def _follows(cursor: EventId | None, current: EventId) -> bool:
    if cursor is None:
        return current.seq == 1
    return current.incarnation == cursor.incarnation and current.seq == cursor.seq + 1


def _new(cursor: EventId | None, event: Event) -> bool:
    current = parse_id(event.id)
    return current is not None and not _seen(cursor, current)
