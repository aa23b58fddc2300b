"""A worker's events: what each acknowledged operation publishes, and the ring of recent events kept for resume.

The loop asks ``events_of`` for an operation's events when it executes it, and hands them to ``EventLog.publish``
only once the batch's fsync succeeded, so a subscriber never hears of a write that was not acknowledged. Ids are
assigned at publish time (engram/events.py explains their form), so the ring and the wire agree on the order.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections import deque
from typing import Any

import msgspec
import zmq

from engram import events
from engram import protocol as p
from engram.events import Event, EventBacklog

PUB_SEND_HWM = 10_000
"""Events queued towards the router before the PUB socket drops (subscribers then fill the gap from the ring)."""

Pending = tuple[str, dict[str, Any]]
"""An event before it has an id: its type and data."""


def events_of(request: msgspec.Struct, result: msgspec.Struct) -> list[Pending]:
    """The events one successful operation publishes (none for reads other than recall)."""
    match request, result:
        case p.Remember(), p.Remembered(memories=stored):
            return [
                ("stored", {"memory_id": m.id, "confidence": m.confidence, "activation": m.activation,
                            "replaced": m.replaced})
                for m in stored
            ]  # fmt: skip
        case p.Recall(), p.RecallResult(hits=hits):
            found = [
                {"memory_id": h.memory.id, "confidence": h.memory.confidence, "activation": h.activation,
                 "retrieval": h.retrieval}
                for h in hits
            ]  # fmt: skip
            pending: list[Pending] = [("recalled", {"memories": found, "count": len(found)})]
            spread = [h.activation for h in hits if h.activation > 0]
            if spread:
                pending.append(
                    ("activation", {"count": len(spread), "avg_activation": sum(spread) / len(spread),
                                    "hops": result.spread_hops})
                )  # fmt: skip
            return pending
        case p.DeleteMemory(id=memory_id), _:
            return [("deleted", {"memory_id": memory_id})]
        case p.Consolidate(), p.Consolidations(patterns=patterns, stats=stats):
            return [("consolidated", {"patterns": [pattern.id for pattern in patterns],
                                      "stats": msgspec.to_builtins(stats)})]  # fmt: skip
    return []


class EventLog:
    """Publishes a worker's events and keeps the last ``events.RING_SIZE`` of each space for ``events_since``."""

    def __init__(self, endpoint: str | None) -> None:
        self._endpoint = endpoint  # the router's XSUB endpoint; None: keep the rings, publish nothing
        self.incarnation = secrets.token_hex(4)
        self._socket: zmq.Socket | None = None
        self._rings: dict[str, deque[Event]] = {}
        self._seqs: dict[str, int] = {}

    def open(self, context: zmq.Context) -> None:
        if self._endpoint is None:
            return
        self._socket = context.socket(zmq.PUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.SNDHWM, PUB_SEND_HWM)
        self._socket.connect(self._endpoint)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def publish(self, space: str, pending: list[Pending], now: float | None = None) -> None:
        now = time.time() if now is None else now
        ring = self._rings.get(space)
        if ring is None:
            ring = self._rings[space] = deque(maxlen=events.RING_SIZE)
        for kind, data in pending:
            seq = self._seqs.get(space, 0) + 1
            self._seqs[space] = seq
            event = Event(events.format_id(self.incarnation, seq), kind, space, now, data)
            ring.append(event)
            if self._socket is not None:
                # PUB drops rather than blocks at its high-water mark; subscribers fill such a gap from the ring.
                with contextlib.suppress(zmq.Again):
                    self._socket.send_multipart(events.event_frames(event), zmq.NOBLOCK)

    def since(self, space: str, after_id: str | None) -> EventBacklog:
        ring = self._rings.get(space, ())
        seq = self._seqs.get(space)
        last_id = events.format_id(self.incarnation, seq) if seq is not None else None
        if after_id is None:
            return EventBacklog([], last_id)
        after = events.parse_id(after_id)
        if after is None or after.incarnation != self.incarnation:
            return EventBacklog(list(ring), last_id)
        return EventBacklog([e for e in ring if events.parse_id(e.id).seq > after.seq], last_id)  # type: ignore[union-attr]
