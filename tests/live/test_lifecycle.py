"""A space's life through the live server: delete (410, purge, crash-safe), create again (empty), max_spaces, the
per-space quotas (max_rps, max_memories) that leave other spaces alone, durability policies, and the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from engram.testing import wait_until
from engram.trash import TRASH_DIR
from tests.conftest import Api, recalled_ids

OLD_TEXTS = [
    "The zebra migration crosses the Mara river in July",
    "Quokkas live on Rottnest island near Perth",
    "The narwhal tusk is an elongated tooth",
]
PURGE_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 60


def _code(response) -> str:
    return response.json()["error"]["code"]


def _space_files(data_dir: Path, space: str) -> list[Path]:
    return [path for path in (data_dir / space).rglob("*") if path.is_file()]


def _in_trash(data_dir: Path, space: str) -> list[str]:
    trash = data_dir / TRASH_DIR
    return [entry.name for entry in trash.iterdir() if entry.name.startswith(f"{space}.")] if trash.exists() else []


def _purged(data_dir: Path, space: str) -> bool:
    return not (data_dir / space).exists() and not _in_trash(data_dir, space)


def _no_byte_of(data_dir: Path, space: str, texts: list[str]) -> bool:
    contents = b"".join(path.read_bytes() for path in _space_files(data_dir, space))
    return not any(text.encode() in contents for text in texts)


def _wait_for_health(api: Api) -> None:
    """After a kill, ``RunningServer.start`` can return early: the killed server's output reader, ending late, may set
    the ready flag the new start waits on. Wait for the new server itself."""

    def healthy() -> bool:
        try:
            return api.get("/health", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    wait_until(healthy, 60.0, message="the restarted server answers /health")


# -- delete, purge, create again ---------------------------------------------------------------------------------


def test_a_deleted_space_is_410_to_every_request_purged_and_comes_back_empty(api, server, unique):
    space = f"{unique}-doomed"
    for i, text in enumerate(OLD_TEXTS):
        assert api.remember(space, text, id=f"old-{i}").status_code == 201
    old = api.get(f"/api/v1/spaces/{space}").json()
    assert old["memories"] == 3 and (server.data_dir / space).is_dir()

    deleted = api.request("DELETE", f"/api/v1/spaces/{space}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"id": space, "state": "deleted", "deleted": True}

    base = f"/api/v1/spaces/{space}"
    refused = [
        api.get(f"{base}/memories"),
        api.post(f"{base}/recall", json={"query": "zebra"}),
        api.get(f"{base}/search", params={"query": "zebra"}),
        api.get(f"{base}/memories/old-0"),
        api.get(base),
        api.remember(space, "a write after the delete"),
        api.post("/api/v1/memories/remember", json={"content": "compatible write"}, headers={"X-Memory-Space": space}),
        api.get("/api/v1/memories/recall", params={"query": "zebra", "space": space}),
        api.request("PATCH", base, json={"max_rps": 10}),
        api.request("DELETE", base),
    ]
    for response in refused:
        assert response.status_code == 410, (response.request.method, response.request.url, response.text)
        error = response.json()["error"]
        assert error["code"] == "MEMORY_SPACE_DELETED" and "POST /api/v1/spaces" in error["hint"]

    listed = [s["id"] for s in api.get("/api/v1/spaces").json()["spaces"]]
    assert space not in listed
    with_deleted = {s["id"]: s for s in api.get("/api/v1/spaces?include_deleted=true").json()["spaces"]}
    assert with_deleted[space]["state"] == "deleted" and with_deleted[space]["deleted_at"]

    wait_until(lambda: _purged(server.data_dir, space), PURGE_TIMEOUT_S, message="the space's files purged")

    again = api.post("/api/v1/spaces", json={"id": space, "dim": 16})
    assert again.status_code == 201, again.text
    assert again.json()["dim"] == 16 and again.json()["created_at"] > old["created_at"]
    for text in OLD_TEXTS:
        assert recalled_ids(api.recall(space, query=text, threshold=0.0)) == []
    assert api.list(space)["total"] == 0
    assert api.get(f"{base}/memories/old-0").status_code == 404
    assert api.remember(space, "a new life", embedding=[1.0] + [0.0] * 15).status_code == 201
    assert _no_byte_of(server.data_dir, space, OLD_TEXTS)
    assert api.get(base).json()["memories"] == 1


def test_deleting_an_unknown_space_is_404_and_other_spaces_are_untouched(api, unique):
    keep = f"{unique}-keep"
    assert api.remember(keep, "still here", id="k").status_code == 201
    missing = api.request("DELETE", f"/api/v1/spaces/{unique}-never")
    assert missing.status_code == 404 and _code(missing) == "MEMORY_SPACE_NOT_FOUND"
    assert api.request("DELETE", f"/api/v1/spaces/{unique}-gone").status_code == 404
    assert api.get(f"/api/v1/spaces/{keep}/memories/k").status_code == 200


def test_a_purge_interrupted_by_a_crash_is_finished_on_the_next_start(make_server, tmp_path):
    running = make_server(workers=1)
    api = Api(running.url)
    for i, text in enumerate(OLD_TEXTS):
        assert api.remember("doomed", text, id=f"old-{i}").status_code == 201
    assert api.remember("bystander", "unrelated and kept", id="b").status_code == 201
    running.stop()
    leftover = tmp_path / "leftover"
    shutil.copytree(running.data_dir / "doomed", leftover)

    running.start()
    api = Api(running.url)
    assert api.request("DELETE", "/api/v1/spaces/doomed").status_code == 200
    wait_until(lambda: _purged(running.data_dir, "doomed"), PURGE_TIMEOUT_S, message="purged")
    running.kill()  # the whole server dies; then put back what a crash before the purge would have left
    shutil.copytree(leftover, running.data_dir / "doomed")
    stale = running.data_dir / TRASH_DIR / "older.1700000000000000000"
    (stale / "wal").mkdir(parents=True)
    (stale / "wal" / "000000000001.log").write_bytes(b"x" * 4096)

    running.start()
    api = Api(running.url)
    _wait_for_health(api)
    wait_until(
        lambda: _purged(running.data_dir, "doomed") and not stale.exists(),
        PURGE_TIMEOUT_S,
        message="the leftover directory and the old trash purged on start",
    )
    assert api.get("/api/v1/spaces/doomed/memories").status_code == 410
    assert api.get("/api/v1/spaces/bystander/memories/b").status_code == 200
    assert api.post("/api/v1/spaces", json={"id": "doomed"}).status_code == 201
    assert api.list("doomed")["total"] == 0
    assert recalled_ids(api.recall("doomed", query=OLD_TEXTS[0], threshold=0.0)) == []


# -- max_spaces ----------------------------------------------------------------------------------------------------


def test_creating_beyond_max_spaces_is_429_and_deleted_spaces_do_not_count(make_server, tmp_path):
    config = tmp_path / "engram.toml"
    config.write_text("[memory_spaces]\nmax_spaces = 3\n")
    running = make_server(workers=1, extra_args=["--config", str(config)])
    api = Api(running.url)
    assert api.post("/api/v1/spaces", json={"id": "one"}).status_code == 201
    assert api.post("/api/v1/spaces", json={"id": "two"}).status_code == 201
    assert api.remember("three", "an implicit creation").status_code == 201

    explicit = api.post("/api/v1/spaces", json={"id": "four"})
    implicit = api.remember("four", "one space too many")
    for response in (explicit, implicit):
        assert response.status_code == 429 and _code(response) == "SPACE_LIMIT_REACHED"
        assert int(response.headers["Retry-After"]) >= 1
        error = response.json()["error"]
        assert "max_spaces = 3" in error["message"] and "max_spaces" in error["hint"] and "delete" in error["hint"]
    assert api.post("/api/v1/spaces", json={"id": "one"}).status_code == 200  # getting an existing one is fine
    assert api.get("/api/v1/spaces/four").status_code == 404

    assert api.request("DELETE", "/api/v1/spaces/two").status_code == 200
    assert api.post("/api/v1/spaces", json={"id": "four"}).status_code == 201
    assert api.post("/api/v1/spaces", json={"id": "two"}).status_code == 429  # coming back counts again


# -- quotas --------------------------------------------------------------------------------------------------------


def test_a_burst_over_max_rps_gets_429_while_another_space_is_served_in_full(server, api, unique):
    limited, free = f"{unique}-rps", f"{unique}-free"
    assert api.post("/api/v1/spaces", json={"id": limited, "dim": 8, "max_rps": 5}).status_code == 201
    assert api.post("/api/v1/spaces", json={"id": free, "dim": 8}).status_code == 201
    results: dict[str, list] = {limited: [], free: []}
    start = threading.Barrier(8)

    def hammer(space: str) -> None:
        session = Api(server.url)
        start.wait()
        for _ in range(10):
            response = session.get(f"/api/v1/spaces/{space}/memories")
            results[space].append((response.status_code, response.headers.get("Retry-After"), response.text))

    began = time.monotonic()
    threads = [threading.Thread(target=hammer, args=(space,)) for space in [limited] * 4 + [free] * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began

    assert [status for status, _, _ in results[free]] == [200] * 40
    statuses = [status for status, _, _ in results[limited]]
    assert set(statuses) <= {200, 429} and 429 in statuses
    assert statuses.count(200) <= 5 + 5 * elapsed + 1  # the burst, then 5 a second
    for status, retry_after, text in results[limited]:
        if status == 429:
            assert json.loads(text)["error"]["code"] == "QUOTA_EXCEEDED" and int(retry_after) >= 1
    # Lifting the quota takes effect at once, and the space's own data was never touched by any of this.
    assert api.request("PATCH", f"/api/v1/spaces/{limited}", json={"max_rps": None}).status_code == 200
    assert all(api.get(f"/api/v1/spaces/{limited}/memories").status_code == 200 for _ in range(20))


def test_max_memories_refuses_growth_with_429_and_other_spaces_are_unaffected(api, unique):
    full, other = f"{unique}-full", f"{unique}-other"
    assert api.post("/api/v1/spaces", json={"id": full, "max_memories": 3}).status_code == 201
    for i in range(3):
        assert api.remember(full, f"memory {i}", id=f"m{i}").status_code == 201
    over = api.remember(full, "one too many", id="m3")
    assert over.status_code == 429 and _code(over) == "QUOTA_EXCEEDED"
    assert int(over.headers["Retry-After"]) >= 1 and f"PATCH /api/v1/spaces/{full}" in over.json()["error"]["hint"]
    assert api.remember(full, "memory 0, replaced", id="m0").status_code == 201  # a replacement adds nothing
    for i in range(10):
        assert api.remember(other, f"other {i}").status_code == 201
    assert api.list(full)["total"] == 3

    raised = api.request("PATCH", f"/api/v1/spaces/{full}", json={"max_memories": 4})
    assert raised.status_code == 200 and raised.json()["max_memories"] == 4
    assert api.remember(full, "room for one more", id="m3").status_code == 201
    assert api.remember(full, "full again", id="m4").status_code == 429
    assert api.request("DELETE", f"/api/v1/spaces/{full}/memories/m1").status_code == 200  # deleting makes room
    assert api.remember(full, "in the freed room", id="m4").status_code == 201


# -- durability policy ---------------------------------------------------------------------------------------------


def test_the_durability_policy_set_at_creation_and_changed_later_shows_and_persists(make_server):
    running = make_server(workers=1)
    api = Api(running.url)
    created = api.post("/api/v1/spaces", json={"id": "logs", "durability": "interval", "durability_interval_ms": 20})
    assert created.status_code == 201, created.text
    assert (created.json()["durability"], created.json()["durability_interval_ms"]) == ("interval", 20)
    for i in range(5):
        assert api.remember("logs", f"line {i}", id=f"l{i}").status_code == 201
    assert api.get("/api/v1/spaces/logs").json()["durability"] == "interval"

    patched = api.request("PATCH", "/api/v1/spaces/logs", json={"durability": "none", "max_bytes": 10**6})
    assert patched.status_code == 200, patched.text
    shown = api.get("/api/v1/spaces/logs").json()
    assert (shown["durability"], shown["durability_interval_ms"], shown["max_bytes"]) == ("none", 20, 10**6)
    settings = json.loads((running.data_dir / "logs" / "space.json").read_text())
    assert settings["policy"]["durability"] == "none"
    assert api.remember("logs", "after the change", id="l5").status_code == 201
    default = api.post("/api/v1/spaces", json={"id": "plain"}).json()
    assert default["durability"] == "fsync"

    running.restart()
    api = Api(running.url)
    listed = {s["id"]: s for s in api.get("/api/v1/spaces").json()["spaces"]}
    assert (listed["logs"]["durability"], listed["logs"]["max_bytes"]) == ("none", 10**6)
    assert api.list("logs")["total"] == 6  # a clean stop closes (and syncs) every space whatever its policy


# -- the CLI -------------------------------------------------------------------------------------------------------


def _engram(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ENGRAM_")}
    return subprocess.run(
        [sys.executable, "-m", "engram", *args],
        capture_output=True,
        text=True,
        input="",  # not a terminal: delete must not ask
        env=clean,
        cwd=tmp_path,
        timeout=COMMAND_TIMEOUT_S,
    )


def test_the_cli_creates_updates_and_deletes_spaces_on_the_server(server, api, unique, tmp_path):
    space = f"{unique}-cli"
    router = ["--router", server.router]
    created = _engram(tmp_path, "space", "create", space, "--dim", "8", "--durability", "interval",
                      "--max-memories", "5", *router)  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert f"created space '{space}'" in created.stdout
    shown = api.get(f"/api/v1/spaces/{space}").json()
    assert (shown["dim"], shown["durability"], shown["max_memories"]) == (8, "interval", 5)

    updated = _engram(tmp_path, "space", "update", space, "--max-memories", "none", "--max-rps", "100", *router)
    assert updated.returncode == 0, updated.stderr
    shown = api.get(f"/api/v1/spaces/{space}").json()
    assert (shown["durability"], shown["max_memories"], shown["max_rps"]) == ("interval", None, 100.0)

    unconfirmed = _engram(tmp_path, "space", "delete", space, *router)
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    assert api.get(f"/api/v1/spaces/{space}").status_code == 200

    deleted = _engram(tmp_path, "space", "delete", space, "--yes", *router)
    assert deleted.returncode == 0, deleted.stderr
    assert api.get(f"/api/v1/spaces/{space}").status_code == 410
    listing = _engram(tmp_path, "space", "list", "--include-deleted", "--json", *router)
    states = {s["id"]: s["state"] for s in json.loads(listing.stdout)["spaces"]}
    assert states[space] == "deleted"
    again = _engram(tmp_path, "space", "delete", space, "--yes", *router)
    assert again.returncode == 1 and "MEMORY_SPACE_DELETED" in again.stderr


def test_a_delete_whose_files_cannot_be_moved_never_lets_the_old_data_back(make_server):
    running = make_server(workers=1)
    api = Api(running.url)
    for i, text in enumerate(OLD_TEXTS):
        assert api.remember("doomed", text, id=f"old-{i}").status_code == 201
    assert api.remember("bystander", "kept", id="b").status_code == 201
    blocker = running.data_dir / TRASH_DIR
    blocker.write_text("a file where the trash directory should be: every move into it fails")

    failed = api.request("DELETE", "/api/v1/spaces/doomed")
    assert failed.status_code == 503 and _code(failed) == "STORAGE_UNAVAILABLE"
    assert api.get("/api/v1/spaces/doomed/memories").status_code == 410  # deleted all the same
    recreated = api.post("/api/v1/spaces", json={"id": "doomed"})  # the old files are still in place
    assert recreated.status_code == 503 and _code(recreated) == "STORAGE_UNAVAILABLE"
    assert api.get("/api/v1/spaces/doomed/memories/old-0").status_code == 503  # never the old data

    def restart_worker() -> None:
        pid = api.get("/api/v1/spaces/bystander").json()["worker"]["pid"]
        os.kill(pid, 9)

        def replaced() -> bool:
            response = api.get("/api/v1/spaces/bystander")
            return response.status_code == 200 and response.json()["worker"]["pid"] != pid

        wait_until(replaced, 30.0, message="the worker restarted")

    restart_worker()  # the router sends the purge again first: it still fails
    assert api.get("/api/v1/spaces/doomed/memories/old-0").status_code == 503
    blocker.unlink()
    restart_worker()  # and now it succeeds, with no request to the space
    wait_until(lambda: _purged(running.data_dir, "doomed"), PURGE_TIMEOUT_S, message="purged after the restart")
    assert api.get("/api/v1/spaces/doomed/memories/old-0").status_code == 404
    assert api.list("doomed")["total"] == 0
    assert api.get("/api/v1/spaces/bystander/memories/b").status_code == 200


def test_bootstrap_spaces_exist_when_the_server_is_ready_and_a_deleted_one_stays_deleted(make_server, tmp_path):
    config = tmp_path / "boot.toml"
    config.write_text('[memory_spaces]\nbootstrap_spaces = ["boot-a", "boot-b"]\n')
    running = make_server(workers=1, extra_args=["--config", str(config)])
    api = Api(running.url)
    assert [s["id"] for s in api.get("/api/v1/spaces").json()["spaces"]] == ["boot-a", "boot-b"]
    assert api.request("DELETE", "/api/v1/spaces/boot-b").status_code == 200
    running.restart()
    api = Api(running.url)
    assert [s["id"] for s in api.get("/api/v1/spaces").json()["spaces"]] == ["boot-a"]
    assert api.get("/api/v1/spaces/boot-b").status_code == 410
