"""One place that turns every failure into the error envelope ``{"error": {"code", "message", "hint"}}``.

``EngramError`` carries its own code; Falcon's own errors (no such route, wrong method, unreadable request)
are given the matching code; anything else is a bug, logged with its traceback and answered as a 500 that
leaks nothing. The status always comes from ``engram.errors.HTTP_STATUS``, so REST and the native protocol
cannot disagree.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import falcon
import msgspec

from engram.api.responses import send_json
from engram.errors import EngramError, ErrorCode

log = logging.getLogger(__name__)

# Falcon raises its own HTTPError for requests that never reach a resource (or that it cannot parse).
_CODE_OF_FALCON_STATUS: dict[int, ErrorCode] = {
    400: ErrorCode.BAD_REQUEST,
    404: ErrorCode.ROUTE_NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}


class ErrorDetail(msgspec.Struct):
    code: str
    message: str
    hint: str


class ErrorEnvelope(msgspec.Struct):
    error: ErrorDetail


def error_detail(error: EngramError) -> ErrorDetail:
    return ErrorDetail(error.code.value, error.message, error.hint)


def render_error(resp: falcon.Response, error: EngramError) -> None:
    """Answer with ``error``'s envelope and status, and ``Retry-After`` when the error is retryable."""
    send_json(resp, ErrorEnvelope(error_detail(error)), error.http_status)
    if error.retry_after_s is not None:
        resp.set_header("Retry-After", str(retry_after_header_s(error.retry_after_s)))


def retry_after_header_s(retry_after_s: float) -> int:
    """``Retry-After`` takes whole seconds; round up so a client never retries early, and never send 0."""
    return max(1, math.ceil(retry_after_s))


def install_error_handlers(app: falcon.App) -> None:
    """Replace Falcon's default handlers (HTTPError, Exception) so every answer uses our envelope."""
    app.add_error_handler(Exception, _on_unexpected_error)
    app.add_error_handler(falcon.HTTPError, _on_falcon_error)
    app.add_error_handler(EngramError, _on_engram_error)


def _on_engram_error(req: falcon.Request, resp: falcon.Response, ex: EngramError, params: dict[str, Any]) -> None:
    render_error(resp, ex)


def _on_falcon_error(req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, params: dict[str, Any]) -> None:
    status = ex.status_code
    code = _CODE_OF_FALCON_STATUS.get(status, ErrorCode.BAD_REQUEST if status < 500 else ErrorCode.MEMORY_SYSTEM_ERROR)
    if code is ErrorCode.ROUTE_NOT_FOUND:
        error = EngramError(
            code,
            f"No route matches {req.method} {req.path}.",
            hint="REST routes live under /api/v1/ (and /health).",
        )
    elif code is ErrorCode.METHOD_NOT_ALLOWED:
        allowed = (ex.headers or {}).get("Allow", "")
        error = EngramError(
            code, f"{req.method} is not allowed on {req.path}.", hint=f"Allowed methods: {allowed or 'none'}."
        )
    else:
        message = ex.title or "Bad request."
        error = EngramError(code, f"{message}: {ex.description}" if ex.description else message)
    render_error(resp, error)
    if ex.headers:
        resp.set_headers(ex.headers)


def _on_unexpected_error(req: falcon.Request, resp: falcon.Response, ex: Exception, params: dict[str, Any]) -> None:
    log.error("unexpected error while handling %s %s", req.method, req.path, exc_info=ex)
    render_error(
        resp,
        EngramError(
            ErrorCode.MEMORY_SYSTEM_ERROR,
            "Internal error while handling the request.",
            hint="The server logged the details; retry, and report it if it keeps happening.",
        ),
    )
