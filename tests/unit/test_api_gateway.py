"""RouterGateway against a scripted in-process ROUTER socket standing in for the router."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator

import msgspec
import pytest
import zmq

from engram import protocol
from engram.api.gateway import RouterGateway, process_state
from engram.errors import EngramError, ErrorCode

# Given the decoded header and request, return the reply frames to send back (possibly none, or several).
Script = Callable[[protocol.Header, protocol.Request], list[bytes]]

HEALTH = protocol.Health("ok", [], 0)


class FakeRouter:
    """A ROUTER socket on a free port whose answers are scripted per test; records what it received."""

    def __init__(self) -> None:
        self.script: Script = lambda header, request: [protocol.ok_reply(header.request_id, HEALTH)]
        self.received: list[tuple[bytes, protocol.Header, protocol.Request]] = []
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.ROUTER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.bind("tcp://127.0.0.1:*")
        self.endpoint: str = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self._socket.poll(20):
                continue
            identity, header_raw, body_raw = self._socket.recv_multipart()
            header = protocol.HEADER_DECODER.decode(header_raw)
            request = protocol.REQUEST_DECODER.decode(body_raw)
            self.received.append((identity, header, request))
            for reply in self.script(header, request):
                self._socket.send_multipart([identity, reply])

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()
        self._context.term()


@pytest.fixture
def router() -> Iterator[FakeRouter]:
    fake = FakeRouter()
    yield fake
    fake.close()


def test_call_sends_header_and_request_frames_and_returns_the_typed_result(router: FakeRouter) -> None:
    gateway = RouterGateway(router.endpoint, timeout_s=2.0)
    assert gateway.call(protocol.Ping(), None) == HEALTH
    router.script = lambda header, request: [protocol.ok_reply(header.request_id, protocol.MemoryPage([], 3))]
    assert gateway.call(protocol.ListMemories(limit=5), "alpha") == protocol.MemoryPage([], 3)
    (_, first, ping), (_, second, listing) = router.received
    assert (first.version, first.op, first.space, ping) == (
        protocol.PROTOCOL_VERSION,
        "ping",
        None,
        protocol.Ping(),
    )
    assert (second.op, second.space, listing) == ("list_memories", "alpha", protocol.ListMemories(limit=5))
    assert second.request_id > first.request_id


def test_stale_replies_with_another_request_id_are_discarded(router: FakeRouter) -> None:
    stale = protocol.SpaceList([protocol.SpaceSummary("stale", 8, 0.0)])
    router.script = lambda header, request: [
        protocol.ok_reply(header.request_id - 1, stale),
        protocol.ok_reply(header.request_id, protocol.SpaceList([])),
    ]
    assert RouterGateway(router.endpoint, timeout_s=2.0).call(protocol.ListSpaces(), None) == protocol.SpaceList([])


def test_error_reply_is_raised_with_code_message_hint_and_retry_after(router: FakeRouter) -> None:
    info = protocol.ErrorInfo("SERVICE_UNAVAILABLE", "Worker 1 is restarting.", "Retry soon.", 2.0)
    router.script = lambda header, request: [protocol.error_reply(header.request_id, info)]
    with pytest.raises(EngramError) as raised:
        RouterGateway(router.endpoint, timeout_s=2.0).call(protocol.GetSpace(), "alpha")
    error = raised.value
    assert (error.code, error.message, error.hint, error.retry_after_s) == (
        ErrorCode.SERVICE_UNAVAILABLE,
        "Worker 1 is restarting.",
        "Retry soon.",
        2.0,
    )


def test_unknown_error_code_becomes_memory_system_error(router: FakeRouter) -> None:
    info = protocol.ErrorInfo("FROM_THE_FUTURE", "Something new.")
    router.script = lambda header, request: [protocol.error_reply(header.request_id, info)]
    with pytest.raises(EngramError) as raised:
        RouterGateway(router.endpoint, timeout_s=2.0).call(protocol.Ping(), None)
    assert raised.value.code is ErrorCode.MEMORY_SYSTEM_ERROR
    assert "FROM_THE_FUTURE" in raised.value.message


def test_timeout_is_503_with_retry_after_and_the_next_call_uses_a_fresh_socket(router: FakeRouter) -> None:
    gateway = RouterGateway(router.endpoint, timeout_s=0.2)
    router.script = lambda header, request: []
    with pytest.raises(EngramError) as raised:
        gateway.call(protocol.Ping(), None)
    assert raised.value.http_status == 503 and raised.value.retry_after_s is not None

    router.script = lambda header, request: [protocol.ok_reply(header.request_id, HEALTH)]
    assert gateway.call(protocol.Ping(), None) == HEALTH
    (timed_out_identity, _, _), (fresh_identity, _, _) = router.received
    assert timed_out_identity != fresh_identity


def test_sockets_lent_at_once_are_distinct_and_a_returned_one_is_lent_again(router: FakeRouter) -> None:
    """Calls in flight at once each hold their own socket (ZeroMQ sockets are not thread-safe); a socket that came
    back is lent again rather than a new one opened per request (per-greenlet sockets would leak one per request)."""
    gateway = RouterGateway(router.endpoint, timeout_s=2.0)
    state = process_state()
    first, second = gateway._borrow(state), gateway._borrow(state)
    assert first is not second
    gateway._give_back(first, state)
    assert gateway._borrow(state) is first
    gateway._give_back(first, state)
    gateway._give_back(second, state)
    for _ in range(5):
        assert gateway.call(protocol.Ping(), None) == HEALTH
    assert len({identity for identity, _, _ in router.received}) == 1


def test_concurrent_calls_from_threads_all_get_their_answer(router: FakeRouter) -> None:
    gateway = RouterGateway(router.endpoint, timeout_s=5.0)
    results: list[msgspec.Struct] = []
    barrier = threading.Barrier(8)

    def call() -> None:
        barrier.wait()
        results.append(gateway.call(protocol.Ping(), None))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [HEALTH] * 8


def test_a_forked_child_never_reuses_the_parents_context_or_socket(router: FakeRouter) -> None:
    gateway = RouterGateway(router.endpoint, timeout_s=2.0)
    assert gateway.call(protocol.Ping(), None) == HEALTH  # the parent now holds a context and a socket
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report success through the pipe, never return into pytest
        status = b"no"
        try:
            status = b"ok" if gateway.call(protocol.Ping(), None) == HEALTH else b"no"
        finally:
            os.write(write_end, status)
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    assert os.read(read_end, 2) == b"ok"
    os.close(read_end)
    (parent_identity, _, _), (child_identity, _, _) = router.received
    assert parent_identity != child_identity
