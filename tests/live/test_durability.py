"""What a 2xx acknowledged survives: clean restarts, and a worker SIGKILLed in the middle of writes."""

from __future__ import annotations

import os
import signal
import threading
import time

from engram.testing import wait_until
from router.placement import owner
from tests.conftest import Api


def test_everything_acknowledged_survives_two_restarts(make_server):
    running = make_server(workers=2)
    expected: dict[tuple[str, str], str] = {}
    for round_no in range(3):
        api = Api(running.url)
        for space in ("alpha", "beta", "gamma"):
            for i in range(10):
                memory_id = f"r{round_no}-{i}"
                content = f"{space} round {round_no} item {i}"
                assert api.remember(space, content, id=memory_id).status_code == 201
                expected[(space, memory_id)] = content
        # Replace one memory per round: the newest write must win after recovery.
        assert api.remember("alpha", f"alpha replaced in round {round_no}", id="r0-0").status_code == 201
        expected[("alpha", "r0-0")] = f"alpha replaced in round {round_no}"
        if round_no < 2:
            running.restart()
    api = Api(running.url)
    for space in ("alpha", "beta", "gamma"):
        listed = api.list(space, limit=1000)
        stored = {m["id"]: m["content"] for m in listed["memories"]}
        assert stored == {mid: content for (s, mid), content in expected.items() if s == space}
    spaces = api.get("/api/v1/spaces").json()["spaces"]
    assert [s["id"] for s in spaces] == ["alpha", "beta", "gamma"]


def test_spaces_recovered_from_disk_are_listed_before_they_are_touched(make_server):
    running = make_server(workers=1)
    api = Api(running.url)
    assert api.post("/api/v1/spaces", json={"id": "quiet", "dim": 16}).status_code == 201
    running.restart()
    spaces = Api(running.url).get("/api/v1/spaces").json()["spaces"]
    assert [(s["id"], s["dim"]) for s in spaces] == [("quiet", 16)]


def _spaces_per_worker(count: int) -> tuple[list[str], list[str]]:
    on_zero = [f"victim-{i}" for i in range(200) if owner(f"victim-{i}", 2) == 0][:count]
    on_one = [f"steady-{i}" for i in range(200) if owner(f"steady-{i}", 2) == 1][:count]
    return on_zero, on_one


def test_sigkill_worker_loses_no_acknowledged_write_and_other_workers_keep_answering(make_server):
    running = make_server(workers=2)
    victims, steady = _spaces_per_worker(3)
    api = Api(running.url)
    for space in victims + steady:
        assert api.remember(space, "warm-up", id="warm").status_code == 201
    victim_pid = api.get(f"/api/v1/spaces/{victims[0]}").json()["worker"]["pid"]

    acknowledged: dict[str, list[str]] = {space: ["warm"] for space in victims + steady}
    steady_failures: list[str] = []
    stop = threading.Event()

    def writer(space: str) -> None:
        client = Api(running.url)
        n = 0
        while not stop.is_set():
            n += 1
            memory_id = f"w{n}"
            response = client.remember(space, f"{space} write {n}", id=memory_id)
            if response.status_code == 201:
                acknowledged[space].append(memory_id)
            elif space in steady:
                steady_failures.append(f"{space}: {response.status_code} {response.text}")

    threads = [threading.Thread(target=writer, args=(space,)) for space in victims + steady]
    for thread in threads:
        thread.start()
    wait_until(lambda: all(len(acknowledged[s]) > 20 for s in victims), message="writes before the kill")
    os.kill(victim_pid, signal.SIGKILL)
    before_kill = {s: len(acknowledged[s]) for s in steady}

    def victim_back() -> bool:
        detail = api.get(f"/api/v1/spaces/{victims[0]}")
        return detail.status_code == 200 and detail.json()["worker"]["pid"] != victim_pid

    wait_until(victim_back, timeout_s=30, message="the killed worker's replacement serving")
    mark = {s: len(acknowledged[s]) for s in victims}
    wait_until(lambda: all(len(acknowledged[s]) > mark[s] + 5 for s in victims), message="writes after restart")
    stop.set()
    for thread in threads:
        thread.join()

    assert steady_failures == []
    assert all(len(acknowledged[s]) > before_kill[s] for s in steady), "steady spaces stalled during the restart"
    for space in victims + steady:
        stored = {m["id"] for m in api.list(space, limit=1000)["memories"]}
        missing = set(acknowledged[space]) - stored
        assert not missing, f"{space} lost acknowledged writes {sorted(missing)[:10]}"
    health = api.get("/health").json()
    assert [w["restarts"] for w in sorted(health["workers"], key=lambda w: w["id"])] == [1, 0]


def test_sigterm_stops_everything_within_ten_seconds(make_server):
    running = make_server(workers=2)
    assert Api(running.url).remember("alpha", "flushed on stop").status_code == 201
    started = time.monotonic()
    assert running.stop() == 0
    assert time.monotonic() - started < 10
    running.start()
    assert Api(running.url).list("alpha")["total"] == 1
