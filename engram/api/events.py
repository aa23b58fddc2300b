"""Server-sent events of one memory space: ``GET /api/v1/spaces/{space}/events`` and the original Engram's
``GET /api/v1/stream/memories`` and ``GET /api/v1/stream/activities`` (space from header or query).

Each stream opens its own SUB socket on the router's events endpoint (``config.events``), subscribed to its space's
topic only, so another space's events never reach it. It subscribes *before* asking the space's worker for the
backlog (``events_since``: the events after ``Last-Event-ID``, or none), sends that, then live events, deduplicated
and gap-filled by id (engram.events.follow), and a comment line whenever ``events_heartbeat_s`` passed without one.
The socket is closed when the client goes away (the server closes the generator on its next failed write).

The first bytes (a ``retry:`` line) are sent at once, so a client sees the 200 and the headers without waiting for
an event. This runs under gunicorn's gevent workers (ops/gunicorn.md): an idle stream is a parked greenlet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import falcon
import msgspec
import zmq

from engram.api.gateway import Gateway, process_state
from engram.api.spaces_resolution import space_of_request
from engram.config import Config
from engram.errors import EngramError
from engram.events import Event, EventBacklog, EventsSince, decode_event, follow, topic

EVENT_STREAM = "text/event-stream"
LAST_EVENT_ID_HEADER = "Last-Event-ID"
LAST_EVENT_ID_PARAM = "last_event_id"
RETRY_MS = 2000
"""How long a browser's EventSource waits before reconnecting (with Last-Event-ID) after the stream breaks."""
SUB_RECEIVE_HWM = 10_000


class EventsResource:
    """One resource behind the path-style and compatible routes: the path style only adds ``{space}``."""

    def __init__(self, gateway: Gateway, config: Config) -> None:
        self._gateway = gateway
        self._config = config

    def on_get(self, req: falcon.Request, resp: falcon.Response, space: str | None = None) -> None:
        space = space_of_request(req, self._config, path_space=space)
        last_event_id = req.get_header(LAST_EVENT_ID_HEADER) or req.get_param(LAST_EVENT_ID_PARAM)
        sub = _subscribe(self._config.events, space)
        try:  # an unknown error (410 deleted space, 503 router down) is answered before the stream starts
            backlog = self._since(space, last_event_id)
        except BaseException:
            sub.close(linger=0)
            raise
        resp.content_type = EVENT_STREAM
        resp.set_header("Cache-Control", "no-cache")
        resp.set_header("X-Accel-Buffering", "no")  # proxies such as nginx must not hold the stream back
        resp.stream = _stream(sub, lambda after: self._since(space, after), backlog, self._config.events_heartbeat_s)

    def _since(self, space: str, after_id: str | None) -> EventBacklog:
        return self._gateway.call(EventsSince(after_id), space)  # type: ignore[return-value]


def _subscribe(endpoint: str, space: str) -> zmq.Socket:
    sub = process_state().context.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVHWM, SUB_RECEIVE_HWM)
    sub.connect(endpoint)
    sub.setsockopt(zmq.SUBSCRIBE, topic(space))
    return sub


def receiver(sub: zmq.Socket) -> Callable[[float], Event | None]:
    """``receive(timeout_s)`` for engram.events.follow: the next event on ``sub``, or None after the timeout."""

    def receive(timeout_s: float) -> Event | None:
        if not sub.poll(max(1, int(timeout_s * 1000)), zmq.POLLIN):
            return None
        return decode_event(sub.recv_multipart())

    return receive


def sse_frame(event: Event) -> bytes:
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (event.id.encode(), event.type.encode(), msgspec.json.encode(event))


def _stream(
    sub: zmq.Socket, since: Callable[[str | None], EventBacklog], backlog: EventBacklog, heartbeat_s: float
) -> Iterator[bytes]:
    try:
        yield b"retry: %d\n: events of one memory space\n\n" % RETRY_MS
        for event in follow(receiver(sub), since, backlog, heartbeat_s):
            yield b": heartbeat\n\n" if event is None else sse_frame(event)
    except EngramError as error:  # the router went away mid-stream: say so; the client resumes with Last-Event-ID
        yield b"event: error\ndata: %s\n\n" % msgspec.json.encode({"code": error.code.value, "message": error.message})
    finally:
        sub.close(linger=0)
