"""The frames the router sends a worker for one request, for unit tests that drive ``WorkerLoop._handle_batch``
in process (a real Space and log on disk, no sockets)."""

from __future__ import annotations

import itertools

from engram import protocol as p

_tickets = itertools.count(1)
DEFAULT_PLACEMENT = p.Placement(True, 4, 1.0)  # an existing space of dimension 4, fsynced before each reply


def request_frames(space: str, request: p.Request, placement: p.Placement = DEFAULT_PLACEMENT) -> list[bytes]:
    """ticket, header, body and placement, as ``router/broker.py`` forwards them."""
    ticket = next(_tickets)
    header = p.Header(p.PROTOCOL_VERSION, ticket, p.op_of(request), space)
    return [ticket.to_bytes(8, "big"), p.ENCODER.encode(header), p.ENCODER.encode(request), p.ENCODER.encode(placement)]
