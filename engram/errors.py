"""Errors as values with stable codes, mapped once to HTTP and to the native protocol.

Every failure a client can see is an ``EngramError`` carrying an ``ErrorCode``. The API renders it as
``{"error": {"code", "message", "hint"}}`` with the status from ``HTTP_STATUS``; the native protocol carries the same
code, message and hint in ``protocol.ErrorInfo``. Nothing else decides a status code.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    BAD_REQUEST = "BAD_REQUEST"
    INVALID_MEMORY_INPUT = "INVALID_MEMORY_INPUT"
    INVALID_MEMORY_SPACE_ID = "INVALID_MEMORY_SPACE_ID"
    MEMORY_SPACE_CONFLICT = "MEMORY_SPACE_CONFLICT"
    MISSING_MEMORY_SPACE = "MISSING_MEMORY_SPACE"
    MEMORY_NOT_FOUND = "MEMORY_NOT_FOUND"
    CONSOLIDATION_NOT_FOUND = "CONSOLIDATION_NOT_FOUND"
    MEMORY_SPACE_NOT_FOUND = "MEMORY_SPACE_NOT_FOUND"
    ROUTE_NOT_FOUND = "ROUTE_NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    DIMENSION_CONFLICT = "DIMENSION_CONFLICT"
    MEMORY_SPACE_DELETED = "MEMORY_SPACE_DELETED"
    MEMORY_SPACE_EXISTS = "MEMORY_SPACE_EXISTS"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    UNSUPPORTED_PROTOCOL_VERSION = "UNSUPPORTED_PROTOCOL_VERSION"
    SPACE_LIMIT_REACHED = "SPACE_LIMIT_REACHED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    INVALID_ARCHIVE = "INVALID_ARCHIVE"
    MEMORY_SYSTEM_ERROR = "MEMORY_SYSTEM_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.INVALID_MEMORY_INPUT: 400,
    ErrorCode.INVALID_MEMORY_SPACE_ID: 400,
    ErrorCode.MEMORY_SPACE_CONFLICT: 400,
    ErrorCode.MISSING_MEMORY_SPACE: 400,
    ErrorCode.UNSUPPORTED_PROTOCOL_VERSION: 400,
    ErrorCode.MEMORY_NOT_FOUND: 404,
    ErrorCode.CONSOLIDATION_NOT_FOUND: 404,
    ErrorCode.MEMORY_SPACE_NOT_FOUND: 404,
    ErrorCode.ROUTE_NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.DIMENSION_CONFLICT: 409,
    ErrorCode.MEMORY_SPACE_EXISTS: 409,
    ErrorCode.MEMORY_SPACE_DELETED: 410,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.SPACE_LIMIT_REACHED: 429,
    ErrorCode.QUOTA_EXCEEDED: 429,
    ErrorCode.INVALID_ARCHIVE: 422,
    ErrorCode.MEMORY_SYSTEM_ERROR: 500,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.STORAGE_UNAVAILABLE: 503,
}


class EngramError(Exception):
    """A failure with a stable code, a message that says what was wrong, and a hint that says how to fix it.

    ``retry_after_s`` is set for the codes a client should simply retry (429, 503); the API sends it as
    ``Retry-After``. ``quota`` names the quota behind a QUOTA_EXCEEDED the router answers (its metrics label).
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        hint: str = "",
        retry_after_s: float | None = None,
        *,
        quota: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.hint = hint
        self.retry_after_s = retry_after_s
        self.quota = quota

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    def __repr__(self) -> str:
        return f"EngramError({self.code.value}, {self.message!r})"


def unavailable(message: str, retry_after_s: float = 1.0) -> EngramError:
    """A 503 the client should retry after ``retry_after_s`` (a worker restarting, the router unreachable)."""
    return EngramError(
        ErrorCode.SERVICE_UNAVAILABLE,
        message,
        hint=f"Retry after {retry_after_s:g} s; the server recovers on its own.",
        retry_after_s=retry_after_s,
    )
