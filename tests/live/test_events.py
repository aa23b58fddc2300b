"""Server-sent events per space, and Client.subscribe and AsyncClient.subscribe, against a real server (router,
workers, gunicorn/gevent).

One dedicated server for the module, configured (through a config file) with a short heartbeat so the heartbeat
test does not wait 15 s; every test uses its own spaces.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from engram.client import AsyncClient, Client
from engram.testing import RunningServer, wait_until
from tests.conftest import Api

HEARTBEAT_S = 0.5


@pytest.fixture(scope="module")
def events_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("events")
    config = root / "engram.toml"
    config.write_text(f"events_heartbeat_s = {HEARTBEAT_S}\n")
    with RunningServer(root / "data", workers=2, extra_args=["--config", str(config)]) as running:
        yield running


@pytest.fixture
def eapi(events_server) -> Api:
    return Api(events_server.url)


class SseReader:
    """Reads one SSE stream on a thread: parsed events in arrival order, and comment lines (heartbeats)."""

    def __init__(self, url: str, **kwargs) -> None:
        self.events: list[dict] = []
        self.comments: list[str] = []
        self.response = requests.get(url, stream=True, timeout=(5, 60), **kwargs)
        assert self.response.status_code == 200, self.response.text
        assert self.response.headers["content-type"].startswith("text/event-stream")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        block: dict[str, str] = {}
        try:
            for line in self.response.iter_lines(chunk_size=None, decode_unicode=True):
                if line.startswith(":"):
                    self.comments.append(line)
                elif line == "":
                    if "data" in block:
                        event = json.loads(block["data"])
                        assert event["id"] == block["id"] and event["type"] == block["event"]
                        self.events.append(event)
                    block = {}
                else:
                    key, _, value = line.partition(": ")
                    block[key] = value
        except Exception:  # noqa: BLE001 - closed by the test
            return

    def of_type(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["type"] == kind]

    def wait_for(self, kind: str, count: int, timeout_s: float = 20.0) -> list[dict]:
        wait_until(lambda: len(self.of_type(kind)) >= count, timeout_s, message=f"{count} {kind} events")
        return self.of_type(kind)

    def close(self) -> None:
        self.response.close()


def _remember(api: Api, space: str, content: str, **fields) -> str:
    response = api.remember(space, content, **fields)
    assert response.status_code == 201, response.text
    return response.json()["memory_id"]


def test_an_alpha_subscriber_gets_every_alpha_event_in_order_and_none_of_alpha2s(events_server, eapi, unique):
    alpha, alpha2 = f"{unique}a", f"{unique}a2"  # alpha is a prefix of alpha2: topics must not prefix-match
    path_style = SseReader(f"{events_server.url}/api/v1/spaces/{alpha}/events")
    compatible = SseReader(f"{events_server.url}/api/v1/stream/memories", headers={"X-Memory-Space": alpha})
    activities = SseReader(f"{events_server.url}/api/v1/stream/activities", params={"space": alpha2})
    try:
        with ThreadPoolExecutor(2) as pool:
            alpha_ids = pool.submit(lambda: [_remember(eapi, alpha, f"alpha fact {i}") for i in range(12)])
            alpha2_ids = pool.submit(lambda: [_remember(eapi, alpha2, f"alpha2 fact {i}") for i in range(12)])
            alpha_ids, alpha2_ids = alpha_ids.result(), alpha2_ids.result()
        eapi.recall(alpha, query="alpha fact 3")
        assert eapi.request("DELETE", f"/api/v1/spaces/{alpha}/memories/{alpha_ids[0]}").status_code == 200
        for reader, space, ids in ((path_style, alpha, alpha_ids), (compatible, alpha, alpha_ids)):
            stored = reader.wait_for("stored", len(ids))
            assert [e["data"]["memory_id"] for e in stored] == ids
            reader.wait_for("recalled", 1)
            assert [e["data"]["memory_id"] for e in reader.wait_for("deleted", 1)] == [ids[0]]
            assert {e["memory_space_id"] for e in reader.events} == {space}
            assert not {e["data"].get("memory_id") for e in reader.events} & set(alpha2_ids)
        stored2 = activities.wait_for("stored", len(alpha2_ids))
        assert [e["data"]["memory_id"] for e in stored2] == alpha2_ids
        assert {e["memory_space_id"] for e in activities.events} == {alpha2}
        ids_seen = [e["id"] for e in path_style.events]
        assert len(set(ids_seen)) == len(ids_seen)  # each event once
    finally:
        for reader in (path_style, compatible, activities):
            reader.close()


@pytest.mark.parametrize("how", ["header", "query"])
def test_last_event_id_resume_delivers_exactly_the_missed_events(events_server, eapi, unique, how):
    space = f"{unique}r"
    url = f"{events_server.url}/api/v1/spaces/{space}/events"
    first = SseReader(url)
    before = [_remember(eapi, space, f"before {i}") for i in range(3)]
    seen = first.wait_for("stored", 3)
    first.close()
    assert [e["data"]["memory_id"] for e in seen] == before
    missed = [_remember(eapi, space, f"missed {i}") for i in range(4)]
    resume = (
        {"headers": {"Last-Event-ID": seen[-1]["id"]}}
        if how == "header"
        else {"params": {"last_event_id": seen[-1]["id"]}}
    )
    second = SseReader(url, **resume)
    try:
        wait_until(lambda: len(second.events) >= 4, message="the missed events")
        after = _remember(eapi, space, "after")
        stored = second.wait_for("stored", 5)
        assert [e["data"]["memory_id"] for e in stored] == [*missed, after]
        assert len(second.events) == 5
    finally:
        second.close()


def test_a_quiet_stream_sends_heartbeats(events_server, unique):
    reader = SseReader(f"{events_server.url}/api/v1/spaces/{unique}h/events")
    try:
        wait_until(lambda: ": heartbeat" in reader.comments, timeout_s=10 * HEARTBEAT_S, message="a heartbeat")
        assert reader.events == []
    finally:
        reader.close()


def test_failed_writes_emit_nothing(events_server, eapi, unique):
    space = f"{unique}f"
    assert eapi.post("/api/v1/spaces", json={"id": space, "dim": 3}).status_code == 201
    reader = SseReader(f"{events_server.url}/api/v1/spaces/{space}/events")
    try:
        assert eapi.post(f"/api/v1/spaces/{space}/memories", json={"confidence": 0.5}).status_code == 400
        wrong_dim = eapi.remember(space, "wrong dimension", embedding=[0.1, 0.2])
        assert 400 <= wrong_dim.status_code < 500, wrong_dim.text  # refused by the worker
        assert eapi.request("DELETE", f"/api/v1/spaces/{space}/memories/mem_nonexistent").status_code == 404
        valid = _remember(eapi, space, "valid", embedding=[0.3, 0.2, 0.1])
        reader.wait_for("stored", 1)
        assert [(e["type"], e["data"].get("memory_id")) for e in reader.events] == [("stored", valid)]
    finally:
        reader.close()


def test_native_subscribe_sees_the_same_events_as_sse(events_server, eapi, unique):
    space = f"{unique}n"
    reader = SseReader(f"{events_server.url}/api/v1/spaces/{space}/events")
    with Client(events_server.router, events_endpoint=events_server.events) as client:
        with client.subscribe(space) as subscription:
            ids = [client.remember(f"native {i}", space=space).id for i in range(3)]
            ids.append(_remember(eapi, space, "over rest"))
            native = []
            deadline = time.monotonic() + 20
            while len(native) < 4 and time.monotonic() < deadline:
                event = subscription.next_event(timeout_s=2)
                if event is not None:
                    native.append(event)
        sse = reader.wait_for("stored", 4)
        reader.close()
    assert [e.data["memory_id"] for e in native] == ids
    assert [(e.id, e.type, e.memory_space_id) for e in native] == [
        (e["id"], e["type"], e["memory_space_id"]) for e in sse
    ]


def test_async_subscribe_delivers_and_resumes_like_the_blocking_one(events_server, eapi, unique):
    """AsyncClient.subscribe: every event of the space in order (``async for``), a resume after an id delivers
    exactly the later ones (``next_event``), and the blocking client's subscription from the ring start agrees."""
    space = f"{unique}as"

    async def scenario() -> tuple[list[str], list, list]:
        async with AsyncClient(events_server.router, events_endpoint=events_server.events) as client:
            subscription = await client.subscribe(space)
            ids = [(await client.remember(f"async {i}", space=space)).id for i in range(3)]
            ids.append(_remember(eapi, space, "over rest"))
            live = []
            async with asyncio.timeout(20):
                async for event in subscription:
                    live.append(event)
                    if len(live) == len(ids):
                        break
            resumed = await client.subscribe(space, last_event_id=live[1].id)  # closed with the client
            again = [await resumed.next_event(timeout_s=5) for _ in range(len(ids) - 2)]
            return ids, live, again

    ids, live, again = asyncio.run(scenario())
    assert [e.data["memory_id"] for e in live] == ids
    assert {e.memory_space_id for e in live} == {space}
    assert [e.id for e in again] == [e.id for e in live[2:]]
    blocking = Client(events_server.router, events_endpoint=events_server.events)
    with blocking, blocking.subscribe(space, last_event_id="") as from_ring:  # "" names no event: the whole ring
        ring = [from_ring.next_event(timeout_s=5) for _ in live]
    assert [e.id for e in ring if e is not None] == [e.id for e in live]


def test_closing_a_client_closes_the_subscriptions_left_open(events_server, unique):
    """A subscription's socket left open would keep the client's close() (its context's term) waiting for ever."""
    client = Client(events_server.router, events_endpoint=events_server.events)
    subscription = client.subscribe(f"{unique}left")
    closer = threading.Thread(target=client.close, daemon=True)
    closer.start()
    closer.join(timeout=15)
    assert not closer.is_alive(), "Client.close() hung on a subscription left open"
    assert subscription.closed


def test_async_subscribe_needs_a_space():
    async def scenario() -> None:
        async with AsyncClient("tcp://127.0.0.1:9") as client:
            await client.subscribe()

    with pytest.raises(ValueError, match="subscribe needs a space"):
        asyncio.run(scenario())


def _open_raw_stream(port: int, path: str) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
    received = b""
    while b"retry:" not in received:
        chunk = conn.recv(4096)
        assert chunk, "the stream closed before its first bytes"
        received += chunk
    assert received.startswith(b"HTTP/1.1 200"), received[:200]
    return conn


def test_two_hundred_idle_subscribers_do_not_block_requests(events_server, eapi, unique):
    space = f"{unique}i"
    streams = []
    try:
        with ThreadPoolExecutor(16) as pool:
            paths = [f"/api/v1/spaces/{space}{i % 7}/events" for i in range(200)]
            streams = list(pool.map(lambda path: _open_raw_stream(events_server.port, path), paths))
        started = time.monotonic()
        for i in range(20):
            _remember(eapi, space, f"while subscribers idle {i}")
            assert eapi.recall(space, query=f"subscribers idle {i}")["memories"]
        elapsed = time.monotonic() - started
        assert elapsed < 15.0, f"40 requests took {elapsed:.1f} s with 200 idle subscribers"
    finally:
        for conn in streams:
            conn.close()
