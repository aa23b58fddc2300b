"""The router's answer to ``status``: one internal request to each worker concerned, merged with the registry.

A status fan-out is open until every worker asked has answered (or was found dead), or ``STATUS_WAIT_S`` passed;
then the router answers with what it has. The registry decides which spaces are listed; a worker's answer supplies
the measured figures of the spaces it has loaded. A registry space whose worker answered without it is "offloaded"
(on disk only, not measured); one whose worker is down or late is "unavailable". The broker only opens fan-outs,
feeds them replies and asks for the expired ones; nothing here touches a socket.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import msgspec

from engram import protocol as p

log = logging.getLogger(__name__)

STATUS_WAIT_S = 2.0
"""How long a status answer waits for slow workers before it reports their spaces as "unavailable"."""

_SPACES_DECODER = msgspec.msgpack.Decoder(p.SpaceStatusList)


@dataclass
class FanOut:
    """One status request in flight: who asked, about what, which workers have still to answer."""

    client: bytes
    request_id: int
    space: str | None  # None: every space
    deadline: float
    waiting: set[int]
    measured: dict[str, p.SpaceStatus] = field(default_factory=dict)
    answered: set[int] = field(default_factory=set)


class StatusFanOuts:
    """The open status fan-outs, keyed by fan-out id."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._open: dict[int, FanOut] = {}

    def open(self, client: bytes, request_id: int, space: str | None) -> tuple[int, FanOut]:
        """A new fan-out awaiting no worker yet: add each worker to ``waiting`` as its request is sent, then
        ``settle`` it (a fan-out no worker could be asked is answered at once)."""
        fanout = FanOut(client, request_id, space, time.monotonic() + STATUS_WAIT_S, set())
        fanout_id = next(self._ids)
        self._open[fanout_id] = fanout
        return fanout_id, fanout

    def answered(self, fanout_id: int, worker: int, reply: bytes) -> FanOut | None:
        """Record ``worker``'s reply; returns the fan-out when that was the last one awaited (and closes it)."""
        fanout = self._open.get(fanout_id)
        if fanout is None:  # answered late, after it expired
            return None
        fanout.waiting.discard(worker)
        try:
            decoded = p.REPLY_DECODER.decode(reply)
            if decoded.error is not None:
                log.warning("worker %d could not report status: %s", worker, decoded.error.message)
            else:
                for status in _SPACES_DECODER.decode(decoded.result).spaces:
                    fanout.measured[status.space] = status
                fanout.answered.add(worker)
        except msgspec.DecodeError:
            log.exception("malformed status reply from worker %d", worker)
        return self.settle(fanout_id)

    def lost(self, fanout_id: int, worker: int) -> FanOut | None:
        """``worker`` died before answering: its spaces are unavailable; returns the fan-out if now complete."""
        fanout = self._open.get(fanout_id)
        if fanout is None:
            return None
        fanout.waiting.discard(worker)
        return self.settle(fanout_id)

    def expired(self, now: float) -> list[FanOut]:
        """Close and return the fan-outs whose wait is over, whoever has not answered."""
        done = [fanout_id for fanout_id, fanout in self._open.items() if fanout.deadline <= now]
        return [self._open.pop(fanout_id) for fanout_id in done]

    def settle(self, fanout_id: int) -> FanOut | None:
        """Close and return the fan-out if no worker is awaited any more (None: still waiting, or closed)."""
        fanout = self._open.get(fanout_id)
        if fanout is None or fanout.waiting:
            return None
        return self._open.pop(fanout_id)


def merge(
    fanout: FanOut, spaces: Mapping[str, int], workers: list[p.WorkerStatus], paced: Mapping[str, float] | None = None
) -> p.SystemStatus:
    """The answer: each of ``spaces`` (active registry ids, each with its owner slot: router/ownership.py) with its
    measured figures, or the state that explains why there are none, and its pace if the router paces it
    (``paced``: space -> requests a second). A worker that answered without a space has it offloaded."""
    paced = paced or {}
    listed = []
    for space in sorted(spaces):
        worker = spaces[space]
        status = fanout.measured.get(space)
        if status is None:
            state = p.SPACE_OFFLOADED if worker in fanout.answered else p.SPACE_UNAVAILABLE
            status = p.SpaceStatus(space, state, worker)
        if space in paced:
            status = msgspec.structs.replace(status, paced_rps=round(paced[space], 1))
        listed.append(status)
    overall = "ok" if all(w.ready for w in workers) else "degraded"
    return p.SystemStatus(overall, time.time(), listed, workers)
