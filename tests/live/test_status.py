"""Status and health from real measurements: ``/api/v1/system/health``, ``/api/v1/spaces/{space}/status``, the
native ``status`` op and ``engram status``.

The original Engram answered health with constant zeros; these tests write known numbers of memories and check that
every surface reports exactly those numbers, per space, from the worker that holds them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from engram.client import Client
from engram.testing import wait_until
from tests.conftest import Api

HEALTH = "/api/v1/system/health"
COMMAND_TIMEOUT_S = 60


def _write(api, space: str, n: int) -> None:
    for i in range(n):
        response = api.remember(space, f"{space} memory number {i}: a distinct fact about item {i * 7919}")
        assert response.status_code == 201, response.text


def _health(api, **params) -> dict:
    response = api.get(HEALTH, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _by_space(body: dict) -> dict[str, dict]:
    return {entry["space"]: entry for entry in body["spaces"]}


def test_health_counts_are_exact_per_space(api, unique):
    alpha, beta = f"{unique}-alpha", f"{unique}-beta"
    _write(api, alpha, 5)
    _write(api, beta, 3)

    for space, expected in ((alpha, 5), (beta, 3)):
        body = _health(api, space=space)
        assert [entry["space"] for entry in body["spaces"]] == [space]
        (entry,) = body["spaces"]
        assert entry["state"] == "loaded"
        assert entry["memories"] == expected
        assert entry["pressure"] > 0
        assert entry["wal_lag_ms"] == 0  # "fsync" spaces: nothing acknowledged waits for an fsync
        assert body["service"] == "engram" and body["version"] and body["timestamp"]

    spaces = _by_space(_health(api))
    assert spaces[alpha]["memories"] == 5 and spaces[alpha]["state"] == "loaded"
    assert spaces[beta]["memories"] == 3 and spaces[beta]["state"] == "loaded"
    assert spaces[alpha]["pressure"] > spaces[beta]["pressure"]


def test_space_status_route_reports_the_space_and_404s_and_410s(api, unique):
    space = f"{unique}-gamma"
    _write(api, space, 2)
    response = api.get(f"/api/v1/spaces/{space}/status")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["space"], body["state"], body["memories"]) == (space, "loaded", 2)

    missing = api.get(f"/api/v1/spaces/{unique}-never/status")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "MEMORY_SPACE_NOT_FOUND"
    assert _health_status(api, f"{unique}-never") == 404

    assert api.request("DELETE", f"/api/v1/spaces/{space}").status_code == 200
    gone = api.get(f"/api/v1/spaces/{space}/status")
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "MEMORY_SPACE_DELETED"
    assert _health_status(api, space) == 410
    assert space not in _by_space(_health(api))


def _health_status(api, space: str) -> int:
    return api.get(HEALTH, params={"space": space}).status_code


def test_workers_are_the_processes_health_reports(api, server):
    liveness = api.get("/health").json()
    status = _health(api)
    assert status["status"] == "healthy"
    assert {(w["id"], w["pid"]) for w in status["workers"]} == {(w["id"], w["pid"]) for w in liveness["workers"]}
    assert len(status["workers"]) == server.workers
    for worker in status["workers"]:
        assert worker["alive"] and worker["ready"]
        os.kill(worker["pid"], 0)  # a real process


def test_each_space_is_reported_by_the_worker_that_owns_it(api, unique):
    spaces = [f"{unique}-w{i}" for i in range(6)]
    for space in spaces:
        _write(api, space, 1)
    reported = _by_space(_health(api))
    for space in spaces:
        owner = api.get(f"/api/v1/spaces/{space}").json()["worker"]["id"]
        assert reported[space]["worker"] == owner


def test_interval_space_reports_the_age_of_its_unsynced_writes(api, unique):
    space = f"{unique}-lazy"
    created = api.post("/api/v1/spaces", json={"id": space, "durability": "interval", "durability_interval_ms": 60000})
    assert created.status_code == 201, created.text
    _write(api, space, 1)
    first = _health(api, space=space)["spaces"][0]["wal_lag_ms"]
    assert 0 < first < 60000
    wait_until(lambda: _health(api, space=space)["spaces"][0]["wal_lag_ms"] >= first + 100, timeout_s=10)


def test_native_client_and_cli_report_the_same_count(api, server, unique):
    space = f"{unique}-cli"
    _write(api, space, 4)
    with Client(server.router) as client:
        result = client.status(space=space)
        assert [(s.space, s.memories) for s in result.spaces] == [(space, 4)]
        everything = client.status()
        assert {s.space: s.memories for s in everything.spaces}[space] == 4

    clean = {k: v for k, v in os.environ.items() if not k.startswith("ENGRAM_")}
    run = subprocess.run(
        [sys.executable, "-m", "engram", "status", "--space", space, "--json", "--router", server.router],
        capture_output=True,
        text=True,
        env=clean,
        timeout=COMMAND_TIMEOUT_S,
    )
    assert run.returncode == 0, run.stderr
    body = json.loads(run.stdout)
    assert [(s["space"], s["memories"], s["state"]) for s in body["spaces"]] == [(space, 4, "loaded")]

    table = subprocess.run(
        [sys.executable, "-m", "engram", "status", "--router", server.router],
        capture_output=True,
        text=True,
        env=clean,
        timeout=COMMAND_TIMEOUT_S,
    )
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.startswith(space + " "))
    assert row.split()[1:3] == ["loaded", "4"]


def test_an_offloaded_space_is_listed_without_figures_until_asked_for(make_server, tmp_path):
    config = tmp_path / "engram.toml"
    config.write_text("[workers]\nidle_offload_s = 0.5\n")
    running = make_server(extra_args=["--config", str(config)])
    api = Api(running.url)
    _write(api, "sleepy", 3)
    wait_until(lambda: _by_space(_health(api))["sleepy"]["state"] == "offloaded", timeout_s=20)
    assert _by_space(_health(api))["sleepy"]["memories"] is None

    (entry,) = _health(api, space="sleepy")["spaces"]  # its worker loads it to measure it
    assert (entry["state"], entry["memories"]) == ("loaded", 3)
