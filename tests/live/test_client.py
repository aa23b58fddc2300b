"""The native client reaches the same spaces, data and errors as REST, on the live server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from engram import protocol, wire
from engram.client import AsyncClient, Client, memory_in
from engram.errors import EngramError, ErrorCode
from engram.testing import free_port, wait_until
from tests.conftest import recalled_ids

FACT = "The mitochondria is the powerhouse of the cell"


@pytest.fixture
def client(server) -> Iterator[Client]:
    with Client(server.router) as native:
        yield native


def _code_of(call) -> EngramError:
    with pytest.raises(EngramError) as caught:
        call()
    return caught.value


def test_a_memory_remembered_natively_is_read_through_rest_in_that_space_only(client, api, unique):
    alpha, beta = f"{unique}-alpha", f"{unique}-beta"
    assert api.remember(beta, "beta keeps its own memories", id="other").status_code == 201
    stored = client.remember(FACT, id="m1", tags=["biology"], space=alpha)
    assert (stored.id, stored.replaced) == ("m1", False)

    got = api.get(f"/api/v1/spaces/{alpha}/memories/m1")
    assert got.status_code == 200 and got.json()["content"] == FACT
    assert "m1" in recalled_ids(api.recall(alpha, query="mitochondria"))
    assert api.get(f"/api/v1/spaces/{beta}/memories/m1").status_code == 404
    assert "m1" not in recalled_ids(api.recall(beta, query="mitochondria", threshold=0.0))
    assert [m["id"] for m in api.list(beta)["memories"]] == ["other"]


def test_a_memory_remembered_through_rest_is_read_natively_in_that_space_only(client, api, unique):
    alpha, beta = f"{unique}-alpha", f"{unique}-beta"
    assert api.remember(alpha, FACT, id="r1").status_code == 201
    assert api.remember(beta, "an unrelated note about taxes", id="r2").status_code == 201

    assert client.get("r1", space=alpha).content == FACT
    assert [hit.memory.id for hit in client.recall("mitochondria", space=alpha).hits] == ["r1"]
    assert [m.id for m in client.search("powerhouse", space=alpha).memories] == ["r1"]
    assert _code_of(lambda: client.get("r1", space=beta)).code is ErrorCode.MEMORY_NOT_FOUND
    assert client.recall("mitochondria", space=beta).hits == []
    assert [m.id for m in client.list(space=beta).memories] == ["r2"]
    assert client.search("powerhouse", space=beta).total == 0


def test_the_client_space_applies_unless_a_call_names_another(server, api, unique):
    alpha, beta = f"{unique}-alpha", f"{unique}-beta"
    with Client(server.router, space=alpha) as native:
        native.remember("kept in the client's space", id="d1")
        native.remember("kept where the call says", id="d2", space=beta)
        assert native.get("d1").content == "kept in the client's space"
    assert [m["id"] for m in api.list(alpha)["memories"]] == ["d1"]
    assert [m["id"] for m in api.list(beta)["memories"]] == ["d2"]


def test_a_call_naming_no_space_is_served_from_the_default_space(client, api, unique):
    client.remember("no space was named for this one", id=f"{unique}-fallback")
    response = api.get(f"/api/v1/spaces/default/memories/{unique}-fallback")
    assert response.status_code == 200, response.text


def test_a_server_requiring_explicit_spaces_refuses_a_call_without_one(make_server):
    running = make_server(workers=1, extra_args=["--require-explicit-space"])
    with Client(running.router) as native:
        error = _code_of(lambda: native.remember("which space?"))
        assert error.code is ErrorCode.MISSING_MEMORY_SPACE and "--space" in error.message
        assert native.remember("this one says", space="alpha").id
        assert native.ping().status == "ok"  # registry operations need no space


def test_a_batch_of_100_travels_as_one_message_and_all_are_listed(client, api, unique, monkeypatch):
    space = f"{unique}-batch"
    sent: list[str] = []
    real_frames = wire.request_frames

    def counting_frames(request, header_space, request_id):
        sent.append(protocol.op_of(request))
        return real_frames(request, header_space, request_id)

    monkeypatch.setattr(wire, "request_frames", counting_frames)
    batch = [memory_in(f"batch fact number {i}", id=f"b{i:03}", tags=["batch"]) for i in range(100)]
    stored = client.remember_batch(batch, space=space)

    assert sent == ["remember"]
    assert [m.id for m in stored] == [f"b{i:03}" for i in range(100)]
    assert len({m.stored_at for m in stored}) == 1  # the worker stamps one request's memories with one time
    page = client.list(limit=1000, space=space)
    assert page.total == 100 and {m.id for m in page.memories} == {f"b{i:03}" for i in range(100)}
    assert api.list(space, limit=1000)["total"] == 100


def test_one_bad_memory_in_a_batch_stores_none_of_it(client, unique):
    space = f"{unique}-allornone"
    error = _code_of(lambda: client.remember_batch([memory_in("fine"), memory_in("   ")], space=space))
    assert error.code is ErrorCode.INVALID_MEMORY_INPUT
    assert client.list(space=space).total == 0


def test_errors_carry_the_same_codes_and_messages_as_rest(client, api, unique):
    space = f"{unique}-errors"
    client.create_space(space, dim=4)

    bad_space = _code_of(lambda: client.list(space="Not A Space"))
    assert bad_space.code is ErrorCode.INVALID_MEMORY_SPACE_ID and "[a-z0-9_-]" in bad_space.hint

    missing = _code_of(lambda: client.get("ghost", space=space))
    rest = api.get(f"/api/v1/spaces/{space}/memories/ghost").json()["error"]
    assert (missing.code.value, missing.message, missing.hint) == (rest["code"], rest["message"], rest["hint"])

    assert _code_of(lambda: client.get_space(f"{unique}-never")).code is ErrorCode.MEMORY_SPACE_NOT_FOUND
    assert _code_of(lambda: client.create_space(space, dim=8)).code is ErrorCode.DIMENSION_CONFLICT
    wrong_dim = _code_of(lambda: client.remember("three numbers", embedding=[1.0, 2.0, 3.0], space=space))
    assert wrong_dim.code is ErrorCode.INVALID_MEMORY_INPUT and "4 dimensions" in wrong_dim.message


def test_embeddings_from_lists_and_arrays_arrive_as_the_same_float32_vectors(client, unique):
    space = f"{unique}-vectors"
    assert client.create_space(space, dim=4).created
    client.remember("north", id="n", embedding=[1.0, 0.0, 0.0, 0.0], space=space)
    client.remember("east", id="e", embedding=np.array([0.0, 1.0, 0.0, 0.0]), space=space)
    stored = client.get("e", space=space).embedding
    assert stored is not None and np.frombuffer(stored, dtype="<f4").tolist() == [0.0, 1.0, 0.0, 0.0]
    hits = client.recall(embedding=np.array([0.9, 0.1, 0, 0], dtype=np.float32), threshold=0.0, space=space).hits
    assert [hit.memory.id for hit in hits][0] == "n"


def test_spaces_are_created_once_listed_and_shown(client, unique):
    space = f"{unique}-registry"
    first, again = client.create_space(space, dim=8), client.create_space(space)
    assert (first.created, again.created, again.space.dim) == (True, False, 8)
    assert space in [summary.id for summary in client.list_spaces()]
    client.remember("one memory", embedding=[1, 0, 0, 0, 0, 0, 0, 0], space=space)
    detail = client.get_space(space)
    assert (detail.id, detail.dim, detail.memories) == (space, 8, 1)
    assert client.ping().status == "ok"


def test_episodes_search_delete_and_consolidation(client, unique):
    space = f"{unique}-episodes"
    when = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    stored = client.remember_episode("met Ada at the station", when, who=["ada"], where_location="station", space=space)
    record = client.get(stored.id, space=space)
    assert (record.content, record.observed_at) == ("met Ada at the station", when.timestamp())
    assert record.episode is not None and record.episode.who == ["ada"]

    assert [m.id for m in client.search("station", space=space).memories] == [stored.id]
    assert client.delete(stored.id, space=space).id == stored.id
    assert _code_of(lambda: client.get(stored.id, space=space)).code is ErrorCode.MEMORY_NOT_FOUND
    assert client.search("station", space=space).total == 0

    ran = client.consolidate(space=space)
    assert ran.stats.total_runs >= 1
    assert client.consolidations(space=space).stats.total_runs == ran.stats.total_runs


def test_one_client_serves_many_threads_each_with_its_own_answers(client, unique):
    space = f"{unique}-threads"
    failures: list[str] = []

    def writer(thread: int) -> None:
        for n in range(25):
            memory_id = f"t{thread}-{n}"
            try:
                stored = client.remember(f"thread {thread} fact {n}", id=memory_id, space=space)
                if stored.id != memory_id or client.get(memory_id, space=space).content != f"thread {thread} fact {n}":
                    failures.append(memory_id)
            except EngramError as error:
                failures.append(f"{memory_id}: {error!r}")

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert client.list(limit=1000, space=space).total == 200


def test_the_async_client_serves_many_concurrent_calls(server, api, unique):
    space = f"{unique}-async"

    async def scenario() -> None:
        async with AsyncClient(server.router, space=space) as native:
            stored = await asyncio.gather(*(native.remember(f"async fact {i}", id=f"a{i}") for i in range(50)))
            assert [m.id for m in stored] == [f"a{i}" for i in range(50)]
            records = await asyncio.gather(*(native.get(f"a{i}") for i in range(50)))
            assert [r.content for r in records] == [f"async fact {i}" for i in range(50)]
            with pytest.raises(EngramError) as caught:
                await native.get("ghost")
            assert caught.value.code is ErrorCode.MEMORY_NOT_FOUND
            assert (await native.list(limit=1000)).total == 50

    asyncio.run(scenario())
    assert api.list(space, limit=1000)["total"] == 50


def test_a_router_that_does_not_answer_is_service_unavailable():
    silent = f"tcp://127.0.0.1:{free_port()}"
    with Client(silent, timeout_s=0.2) as native:
        error = _code_of(native.ping)
    assert error.code is ErrorCode.SERVICE_UNAVAILABLE and error.retry_after_s

    async def ping_async() -> EngramError:
        async with AsyncClient(silent, timeout_s=0.2) as native:
            with pytest.raises(EngramError) as caught:
                await native.ping()
            return caught.value

    assert asyncio.run(ping_async()).code is ErrorCode.SERVICE_UNAVAILABLE


def test_closing_lets_a_call_in_flight_on_another_thread_finish_on_its_own_terms():
    native = Client(f"tcp://127.0.0.1:{free_port()}", timeout_s=0.5)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            native.ping()
        except BaseException as error:  # noqa: BLE001 - the test inspects whatever the call raised
            outcome.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(lambda: native._lent == 1, message="the call borrowed a socket")
    native.close()  # must not abort the call with a raw ZeroMQ ETERM
    caller.join()
    assert len(outcome) == 1 and isinstance(outcome[0], EngramError)
    assert outcome[0].code is ErrorCode.SERVICE_UNAVAILABLE


def test_a_closed_client_refuses_further_calls(server):
    native = Client(server.router)
    assert native.ping().status == "ok"
    native.close()
    native.close()  # closing twice is harmless
    with pytest.raises(RuntimeError, match="closed"):
        native.ping()


def _run_python_example(path: str, heading: str, router: str) -> None:
    """Execute the first python block after ``heading`` in a page of the repository, against ``router``."""
    page = (Path(__file__).resolve().parents[2] / path).read_text()
    example = page.split(heading, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert '"tcp://127.0.0.1:7433"' in example
    exec(compile(example.replace('"tcp://127.0.0.1:7433"', repr(router)), path, "exec"), {"__name__": "example"})


def test_the_protocol_page_example_runs_as_written(make_server, capsys):
    _run_python_example("docs/protocol.md", "## The Python client", make_server(workers=1).router)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].endswith("The mitochondria is the powerhouse of the cell")
    assert printed[-2].startswith("MEMORY_NOT_FOUND Memory 'no-such-id' not found")
    assert printed[-1] == "102"


def test_the_readme_client_example_runs_as_written(make_server, capsys):
    _run_python_example("README.md", "## Native client", make_server(workers=1).router)
    assert "The mitochondria is the powerhouse of the cell" in capsys.readouterr().out
