"""Both ends of one native call, shared by every caller of the router (the API's gateway and ``engram.client``).

A call is two frames out (``Header`` and the request body) and one ``Reply`` frame back; the reply is matched by
request id, so a late answer to an earlier, timed-out request is never taken for the current one. A reply carrying an
error becomes the same ``EngramError`` the router or worker raised, so a native client sees exactly the codes, messages
and hints a REST client sees. Timeouts are the caller's to report: what a late router means differs between an API
process (retry the socket) and a client.
"""

from __future__ import annotations

import logging
import math
import time

import msgspec
import zmq

from engram import protocol
from engram.errors import EngramError, ErrorCode

log = logging.getLogger(__name__)


def request_frames(request: protocol.Request, space: str | None, request_id: int) -> list[bytes]:
    """The two frames of ``request`` for ``space`` (None: the server's default-space rules)."""
    header = protocol.Header(protocol.PROTOCOL_VERSION, request_id, protocol.op_of(request), space)
    return [protocol.ENCODER.encode(header), protocol.ENCODER.encode(request)]


def decode_reply(frame: bytes) -> protocol.Reply:
    return protocol.REPLY_DECODER.decode(frame)


def wait_for_reply(sock: zmq.Socket, request_id: int, timeout_s: float) -> protocol.Reply | None:
    """The reply to ``request_id`` on ``sock``, or None when none came within ``timeout_s``.

    Replies to other request ids (answers that arrived after their caller gave up) are dropped.
    """
    deadline = time.monotonic() + timeout_s
    while (remaining_s := deadline - time.monotonic()) > 0:
        if not sock.poll(math.ceil(remaining_s * 1000), zmq.POLLIN):
            return None
        reply = decode_reply(sock.recv_multipart()[-1])
        if reply.request_id == request_id:
            return reply
        log.debug("discarding stale reply %d while waiting for %d", reply.request_id, request_id)
    return None


def result_of(op: str, reply: protocol.Reply) -> msgspec.Struct:
    """The typed result of a reply to ``op``; a reply carrying an error is raised as that ``EngramError``."""
    if reply.error is not None:
        raise error_from(reply.error)
    return protocol.decode_result(op, reply)


def error_from(info: protocol.ErrorInfo) -> EngramError:
    """The ``EngramError`` a reply's error describes; a code this side does not know is kept in the message."""
    try:
        code = ErrorCode(info.code)
    except ValueError:
        return EngramError(
            ErrorCode.MEMORY_SYSTEM_ERROR,
            f"The server answered with an unknown error code {info.code!r}: {info.message}",
            hint=info.hint,
        )
    return EngramError(code, info.message, info.hint, info.retry_after_s)
