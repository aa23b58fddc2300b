"""Space storage through the live server: thousands of spaces with bounded worker memory, fast restarts, export and
import, and a corrupt log that damages only its own space."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from engram.client import Client, memory_in
from engram.protocol import SpacePolicy
from engram.testing import RunningServer, wait_until
from tests.conftest import Api, recalled_ids

MANY_SPACES = 2000
MEMORIES_PER_SPACE = 20
MAX_RESIDENT = 50
WORKER_RSS_BOUND_MB = 150
"""The stated bound for this config (50 resident spaces of dim 768 per worker): measured about 80 MB per worker.
With offload disabled (max_resident_spaces beyond the space count) the same load measured 200 MB per worker, so this
bound fails unless idle spaces really leave memory."""


def _config(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "engram.toml"
    path.write_text(text)
    return ["--config", str(path)]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def test_two_thousand_spaces_are_served_with_bounded_worker_memory_and_a_lazy_restart(tmp_path):
    args = _config(tmp_path, f"[workers]\nmax_resident_spaces = {MAX_RESIDENT}\nidle_offload_s = 600\n")
    spaces = [f"many-{i:04d}" for i in range(MANY_SPACES)]
    with RunningServer(tmp_path / "data", workers=2, extra_args=args) as server:

        def fill(chunk: list[str]) -> None:
            with Client(server.router) as client:
                for space in chunk:
                    batch = [memory_in(f"{space} fact {i} about lanterns", id=f"f{i}") for i in range(20)]
                    assert len(client.remember_batch(batch, space=space)) == MEMORIES_PER_SPACE

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(fill, [spaces[i::4] for i in range(4)]))
        api = Api(server.url)
        for space in spaces[::97]:  # every space is served, including long-offloaded ones
            assert api.list(space)["total"] == MEMORIES_PER_SPACE
            assert f"{space} fact 3 about lanterns" in _contents(api.recall(space, query="fact 3 lanterns"))
        workers = api.get("/health").json()["workers"]
        rss = {w["id"]: _rss_mb(w["pid"]) for w in workers}
        assert all(mb < WORKER_RSS_BOUND_MB for mb in rss.values()), rss
        assert len(api.get("/api/v1/spaces").json()["spaces"]) == MANY_SPACES
        server.stop()

        server.start()  # a restart opens no space until a request needs it (its time: bench/cold_start.py)
        response = requests.post(
            f"{server.url}/api/v1/spaces/{spaces[1234]}/recall", json={"query": "fact 7 lanterns"}, timeout=30
        )
        assert response.status_code == 200
        assert f"{spaces[1234]} fact 7 about lanterns" in _contents(response.json())
        with Client(server.router) as client:
            loaded = [status.space for status in client.status().spaces if status.state == "loaded"]
        assert loaded == [spaces[1234]]


def _contents(recall_result: dict) -> list[str]:
    memories = recall_result["memories"]
    return [m["content"] for m in memories["vivid"] + memories["associated"] + memories["reconstructed"]]


def test_export_then_import_recalls_identically(make_server, tmp_path):
    running = make_server(workers=2)
    api = Api(running.url)
    for i in range(40):
        topic = ("ocean tides", "mountain passes", "desert winds", "forest trails")[i % 4]
        assert api.remember("origin", f"note {i} on {topic}", id=f"n{i}").status_code == 201
    assert api.post("/api/v1/spaces/origin/associations", json={"source": "n1", "target": "n2"}).status_code in (
        200,
        201,
    )

    exported = api.get("/api/v1/spaces/origin/export")
    assert exported.status_code == 200, exported.text
    assert exported.headers["Content-Type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(exported.content)) as tar:
        assert tar.getnames()[0] == "manifest.json"

    imported = api.post(
        "/api/v1/spaces/copy/import", data=exported.content, headers={"Content-Type": "application/x-tar"}
    )
    assert imported.status_code == 201, imported.text
    assert api.list("copy")["total"] == 40

    found = 0
    for query in ("ocean tides", "mountain passes", "desert winds", "forest trails", "note 2 on desert winds"):
        original = api.recall("origin", query=query, max_results=10)
        copy = api.recall("copy", query=query, max_results=10)
        assert recalled_ids(copy) == recalled_ids(original), query
        found += len(recalled_ids(copy))
    assert found >= 5, "the queries should recall something, or the comparison proves nothing"
    original_links = api.get("/api/v1/spaces/origin/memories/n1").json()
    copied_links = api.get("/api/v1/spaces/copy/memories/n1").json()
    assert copied_links["content"] == original_links["content"]

    again = api.post("/api/v1/spaces/copy/import", data=exported.content, headers={"Content-Type": "application/x-tar"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "MEMORY_SPACE_EXISTS"
    damaged = bytearray(exported.content)
    damaged[len(damaged) // 2] ^= 0xFF
    refused = api.post(
        "/api/v1/spaces/broken/import", data=bytes(damaged), headers={"Content-Type": "application/x-tar"}
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "INVALID_ARCHIVE"
    assert api.get("/api/v1/spaces/broken").status_code == 404
    assert not (running.data_dir / "broken").exists()


def test_an_imported_space_keeps_the_policy_and_creation_time_it_was_exported_with(make_server):
    running = make_server(workers=2)
    api = Api(running.url)
    with Client(running.router) as client:
        client.create_space("shaped", durability="interval", durability_interval_ms=250, max_memories=50, max_rps=80.0)
        for i in range(3):
            assert api.remember("shaped", f"shaped fact {i}", id=f"s{i}").status_code == 201
        source = client.get_space("shaped")
        archive = client.export_space("shaped").archive
        imported = client.import_space(archive, "twin")

        assert imported.created and imported.space.policy == source.policy != SpacePolicy()  # not the defaults
        twin = client.get_space("twin")
        listed = {summary.id: summary for summary in client.list_spaces()}
        assert twin.policy == listed["twin"].policy == source.policy
        assert twin.created_at == listed["twin"].created_at == source.created_at
        assert twin.memories == 3
    running.restart()
    with Client(running.router) as client:
        assert client.get_space("twin").policy == source.policy  # the registry persisted it


def test_a_corrupt_record_mid_log_keeps_the_good_prefix_and_other_spaces_whole(make_server):
    running = make_server(workers=2)
    api = Api(running.url)
    for i in range(30):
        for space in ("damaged", "intact"):
            assert api.remember(space, f"{space} entry {i:02d}", id=f"e{i:02d}").status_code == 201
    running.stop()

    log = running.data_dir / "damaged" / "wal" / "000000000001.log"
    data = bytearray(log.read_bytes())
    data[len(data) // 2] ^= 0xFF
    log.write_bytes(bytes(data))

    running.start()
    api = Api(running.url)
    intact = {m["id"] for m in api.list("intact", limit=100)["memories"]}
    assert intact == {f"e{i:02d}" for i in range(30)}
    kept = sorted(m["id"] for m in api.list("damaged", limit=100)["memories"])
    assert 0 < len(kept) < 30
    assert kept == [f"e{i:02d}" for i in range(len(kept))], "only a prefix of the log may survive"
    assert list((running.data_dir / "damaged" / "wal").glob("dropped-*.bin"))
    assert api.remember("damaged", "written after recovery", id="after").status_code == 201
    running.restart()
    assert "after" in {m["id"] for m in Api(running.url).list("damaged", limit=100)["memories"]}


@pytest.mark.parametrize("damage", ["truncate", "remove"])
def test_a_damaged_snapshot_falls_back_without_losing_acknowledged_writes(make_server, tmp_path, damage):
    args = _config(tmp_path, "[workers]\nsnapshot_wal_bytes = 20000\n")
    running = make_server(workers=1, extra_args=args)
    api = Api(running.url)
    hot = running.data_dir / "snappy" / "hot"
    for i in range(60):
        assert api.remember("snappy", f"snapshot entry {i}", id=f"s{i}").status_code == 201
    wait_until(lambda: list(hot.glob("snapshot-*")), message="a snapshot past snapshot_wal_bytes")
    for i in range(60, 70):  # a log tail after the snapshot
        assert api.remember("snappy", f"snapshot entry {i}", id=f"s{i}").status_code == 201
    running.stop()
    snapshots = sorted(hot.glob("snapshot-*"))
    newest = max(snapshots[-1].iterdir(), key=lambda p: p.stat().st_size)
    if damage == "truncate":
        newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    else:
        newest.unlink()

    running.start()
    stored = {m["id"] for m in Api(running.url).list("snappy", limit=100)["memories"]}
    assert stored == {f"s{i}" for i in range(70)}


def test_a_legacy_single_space_data_directory_is_served_as_the_default_space(make_server, tmp_path):
    legacy = make_server(tmp_path / "legacy", workers=1)
    assert Api(legacy.url).remember("default", "kept from the single-tenant days", id="old").status_code == 201
    legacy.stop()
    root = tmp_path / "legacy"
    for name in ("wal", "hot", "warm", "cold", "space.json"):  # lay the default space out as a pre-spaces root
        (root / "default" / name).rename(root / name)
    (root / "default").rmdir()
    for name in ("registry.json", "registry.log"):
        (root / name).unlink(missing_ok=True)

    legacy.start()
    api = Api(legacy.url)
    assert [m["id"] for m in api.list("default")["memories"]] == ["old"]
    assert not (root / "wal").exists() and (root / "default" / "wal").is_dir()


def _write_with_two_snapshots(server: RunningServer, space: str, count: int = 9) -> set[str]:
    """``count`` memories in thirds: two exports in between each snapshot the space, so the log both snapshots cover
    is deleted and the first third lives only in the snapshots; the last third is the log tail."""
    api = Api(server.url)
    with Client(server.router, space=space) as client:
        for i in range(count):
            assert api.remember(space, f"fact {i} from before", id=f"m{i}").status_code == 201
            if i in (count // 3 - 1, 2 * count // 3 - 1):
                client.export_space(space)
    return {f"m{i}" for i in range(count)}


def test_a_legacy_directory_wrapped_under_another_default_space_keeps_every_memory(make_server, tmp_path):
    root = tmp_path / "legacy"
    old = make_server(root, workers=1)
    expected = _write_with_two_snapshots(old, "default")
    old.stop()
    assert len(list((root / "default" / "hot").glob("snapshot-*"))) == 2
    for entry in list((root / "default").iterdir()):  # the layout from before memory spaces
        entry.rename(root / entry.name)
    (root / "default").rmdir()
    for name in ("registry.json", "registry.log"):
        (root / name).unlink(missing_ok=True)

    args = _config(tmp_path, '[memory_spaces]\ndefault_space = "tenant-zero"\n')
    new = make_server(root, workers=1, extra_args=args)
    api = Api(new.url)
    assert {m["id"] for m in api.list("tenant-zero", limit=100)["memories"]} == expected
    assert {m["id"] for m in api.get("/api/v1/memories", params={"limit": 100}).json()["memories"]} == expected
    assert (root / "tenant-zero" / "hot").is_dir() and not (root / "default").exists()
    assert "opened with losses" not in "".join(new.output)


def test_an_offline_copy_keeps_every_memory_and_the_policy(make_server, tmp_path):
    root = tmp_path / "data"
    running = make_server(root, workers=1)
    with Client(running.router) as client:
        client.create_space("big", durability="interval", durability_interval_ms=250, max_memories=5000)
        policy = client.get_space("big").policy
    expected = _write_with_two_snapshots(running, "big")

    def copy(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "engram", "space", "copy", *args, "--data-dir", str(root)]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    refused = copy("big", "big-copy")
    assert refused.returncode == 1 and "stop it first" in refused.stderr, refused.stderr
    assert not (root / "big-copy").exists()
    running.stop()
    copied = copy("big", "big-copy")
    assert copied.returncode == 0, copied.stderr
    assert "copied space 'big' to 'big-copy'" in copied.stdout
    assert copy("big", "big-copy").returncode == 1  # it exists now

    running.start()
    api = Api(running.url)
    for space in ("big", "big-copy"):
        assert {m["id"] for m in api.list(space, limit=100)["memories"]} == expected, space
    with Client(running.router) as client:
        assert client.get_space("big-copy").policy == policy
    assert "opened with losses" not in "".join(running.output)


def test_the_cli_exports_imports_and_migrates_the_default_space(make_server, tmp_path):
    running = make_server(workers=1)
    api = Api(running.url)
    for i in range(5):
        assert api.remember("default", f"legacy fact {i}", id=f"d{i}").status_code == 201
    archive = tmp_path / "default.tar"

    def cli(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "engram", *args, "--router", running.router]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    exported = cli("space", "export", "default", str(archive))
    assert exported.returncode == 0, exported.stderr
    imported = cli("space", "import", str(archive), "--as", "copy")
    assert imported.returncode == 0, imported.stderr
    assert api.list("copy")["total"] == 5

    with Client(running.router) as client:
        own = client.update_space("default", durability="interval", durability_interval_ms=300, max_rps=500.0)
        assert own.policy != client.get_space("copy").policy  # the server's defaults: not what migrate must carry

        migrated = cli("memory", "migrate", "--from-default", "--to", "tenant-a")
        assert migrated.returncode == 0, migrated.stderr
        assert "moved 5 memories" in migrated.stdout
        assert sorted(m["id"] for m in api.list("tenant-a")["memories"]) == [f"d{i}" for i in range(5)]
        assert api.list("default")["total"] == 0
        assert client.get_space("tenant-a").policy == own.policy
        assert client.get_space("default").policy == own.policy
