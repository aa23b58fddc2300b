"""Measured status: ``GET /api/v1/system/health`` (Engram-compatible, ``?space=`` to filter) and
``GET /api/v1/spaces/{space}/status``.

Both ask the router's ``status`` op, which gathers each worker's measured figures (memory count, pressure, log lag,
consolidation backlog) and merges them with the registry (router/status.py). The original Engram answered this route
with constant zeros; every figure here is read from the space that holds it, or left null when the space is not
loaded (``state`` says why). Unlike ``GET /health`` (liveness, 503 when degraded), this route answers 200 whenever
the router answers: the body's ``status`` says whether every worker is ready.
"""

from __future__ import annotations

import time
from typing import cast

import falcon
import msgspec

from engram import __version__, protocol
from engram.api.conversions import rfc3339
from engram.api.gateway import Gateway
from engram.api.health import SERVICE_NAME
from engram.api.responses import send_json
from engram.api.spaces_resolution import FROM_PATH, FROM_QUERY, SPACE_QUERY_PARAM
from engram.ids import validate_space_id


class SystemHealthBody(msgspec.Struct):
    """``status`` is "healthy" when every worker is ready, else "degraded"; ``spaces`` every active space (or the
    one asked for with ``?space=``), sorted by id; ``workers`` each worker process."""

    status: str
    service: str
    version: str
    timestamp: str
    spaces: list[protocol.SpaceStatus]
    workers: list[protocol.WorkerStatus]


class SystemHealthResource:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        space = req.get_param(SPACE_QUERY_PARAM)
        if space is not None:
            space = validate_space_id(space, source=FROM_QUERY)
        result = cast(protocol.SystemStatus, self._gateway.call(protocol.Status(), space))
        body = SystemHealthBody(
            "healthy" if result.status == "ok" else "degraded",
            SERVICE_NAME,
            __version__,
            rfc3339(time.time()),
            result.spaces,
            result.workers,
        )
        send_json(resp, body)


class SpaceStatusResource:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def on_get(self, req: falcon.Request, resp: falcon.Response, space: str) -> None:
        space = validate_space_id(space, source=FROM_PATH)
        result = cast(protocol.SystemStatus, self._gateway.call(protocol.Status(), space))
        send_json(resp, result.spaces[0])
