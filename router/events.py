"""The router's part of the events channel: an XSUB/XPUB proxy between the workers' PUB sockets and subscribers.

Workers connect their PUB sockets to the XSUB socket (an ephemeral loopback port, passed to them like the backend
endpoint); subscribers (SSE streams in the API processes, ``Client.subscribe``) connect SUB sockets to the XPUB
socket at ``config.events``. Messages flow down, subscriptions flow up, so a worker sends an event only when some
subscriber wants its space's topic. The proxy runs inside the broker's one poll loop; it never decodes an event.
"""

from __future__ import annotations

import zmq

XPUB_SEND_HWM = 100_000
"""Events queued per subscriber before the proxy drops for it (it then fills the gap from the worker's ring)."""
DRAIN_MAX = 1000


class EventProxy:
    def __init__(self, context: zmq.Context, public_endpoint: str) -> None:
        self._upstream = context.socket(zmq.XSUB)
        self._upstream.setsockopt(zmq.LINGER, 0)
        self._upstream.bind("tcp://127.0.0.1:*")
        self.upstream_endpoint = self._upstream.getsockopt_string(zmq.LAST_ENDPOINT)
        self._downstream = context.socket(zmq.XPUB)
        self._downstream.setsockopt(zmq.LINGER, 0)
        self._downstream.setsockopt(zmq.SNDHWM, XPUB_SEND_HWM)
        self._downstream.bind(public_endpoint)

    def register(self, poller: zmq.Poller) -> None:
        poller.register(self._upstream, zmq.POLLIN)
        poller.register(self._downstream, zmq.POLLIN)

    def pump(self, ready: dict) -> None:
        """Forward what is waiting: events from workers to subscribers, (un)subscriptions the other way."""
        if self._upstream in ready:
            _forward(self._upstream, self._downstream)
        if self._downstream in ready:
            _forward(self._downstream, self._upstream)

    def close(self) -> None:
        self._upstream.close(linger=0)
        self._downstream.close(linger=0)


def _forward(source: zmq.Socket, target: zmq.Socket) -> None:
    for _ in range(DRAIN_MAX):
        try:
            frames = source.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return
        target.send_multipart(frames)
