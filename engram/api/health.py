"""``GET /health``: the liveness answer the supervisor waits for and operators poll.

The original Engram's shape (``status``, ``service``, ``version``, ``timestamp``) plus each worker's state. It
is 200 only when the router answers and every worker is ready; a degraded or unreachable server still answers
the same shape (with the error envelope when the router is unreachable), as a 503 a load balancer understands.
"""

from __future__ import annotations

import time
from typing import cast

import falcon
import msgspec

from engram import __version__, protocol
from engram.api.conversions import rfc3339
from engram.api.errors import ErrorDetail, error_detail, retry_after_header_s
from engram.api.gateway import Gateway
from engram.api.responses import send_json
from engram.errors import EngramError

SERVICE_NAME = "engram"


class HealthBody(msgspec.Struct, omit_defaults=True):
    status: str  # "healthy", "degraded" (some worker not ready) or "unhealthy" (router unreachable)
    service: str
    version: str
    timestamp: str
    workers: list[protocol.WorkerStatus]
    spaces: int | None = None
    error: ErrorDetail | None = None


class HealthResource:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        now = rfc3339(time.time())
        try:
            health = cast(protocol.Health, self._gateway.call(protocol.Ping(), None))
        except EngramError as exc:
            send_json(
                resp,
                HealthBody("unhealthy", SERVICE_NAME, __version__, now, [], error=error_detail(exc)),
                503,
            )
            if exc.retry_after_s is not None:
                resp.set_header("Retry-After", str(retry_after_header_s(exc.retry_after_s)))
            return
        healthy = health.status == "ok"
        body = HealthBody(
            "healthy" if healthy else "degraded",
            SERVICE_NAME,
            __version__,
            now,
            health.workers,
            health.spaces,
        )
        send_json(resp, body, 200 if healthy else 503)
