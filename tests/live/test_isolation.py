"""Memory spaces never see each other's data, through every read path of the live server."""

from __future__ import annotations

import threading

from router.placement import owner
from workers.records import PutRecord, decode_record
from workers.wal import replay


def _create(api, space, dim=8):
    response = api.post("/api/v1/spaces", json={"id": space, "dim": dim})
    assert response.status_code in (200, 201), response.text


def test_same_ids_in_alpha_and_beta_stay_separate(api, unique):
    alpha, beta = f"{unique}-alpha", f"{unique}-beta"
    for space in (alpha, beta):
        _create(api, space)
    for i in range(3):
        assert api.remember(alpha, f"alpha owns fact {i}", id=f"m{i}", embedding=[1.0, i, 0, 0, 0, 0, 0, 0]).ok
        assert api.remember(beta, f"beta owns fact {i}", id=f"m{i}", embedding=[0, 0, 0, 0, 1.0, i, 0, 0]).ok

    for space, other in ((alpha, "beta"), (beta, "alpha")):
        owner_word = space.rsplit("-", 1)[1]
        got = api.get(f"/api/v1/spaces/{space}/memories/m1").json()
        assert got["content"] == f"{owner_word} owns fact 1"
        listed = api.list(space)
        assert sorted(m["content"] for m in listed["memories"]) == [f"{owner_word} owns fact {i}" for i in range(3)]
        by_text = api.recall(space, query=f"{other} owns fact", threshold=0.0, max_results=50)
        assert all(owner_word in m["content"] for m in by_text["memories"]["vivid"] + by_text["memories"]["associated"])
        probe = [1.0, 1, 0, 0, 0, 0, 0, 0] if owner_word == "beta" else [0, 0, 0, 0, 1.0, 1, 0, 0]
        by_vector = api.recall(space, embedding=probe, threshold=0.0, max_results=50)
        contents = [m["content"] for m in by_vector["memories"]["vivid"] + by_vector["memories"]["associated"]]
        assert contents and all(owner_word in c for c in contents)


def test_compatible_routes_take_the_space_from_the_header(api, unique):
    alpha, beta = f"{unique}-alpha", f"{unique}-beta"
    for space in (alpha, beta):
        response = api.post(
            "/api/v1/memories/remember",
            json={"id": "shared_id", "content": f"This belongs to {space}"},
            headers={"X-Memory-Space": space},
        )
        assert response.status_code == 201, response.text
    result = api.get("/api/v1/memories/recall", params={"query": "belongs"}, headers={"X-Memory-Space": alpha})
    assert result.status_code == 200
    vivid = result.json()["memories"]["vivid"]
    assert [m["content"] for m in vivid] == [f"This belongs to {alpha}"]
    listed = api.get("/api/v1/memories", params={"space": beta}).json()
    assert [m["content"] for m in listed["memories"]] == [f"This belongs to {beta}"]


def test_ten_spaces_written_concurrently_keep_exact_counts(server, unique):
    from tests.conftest import Api

    spaces = [f"{unique}-c{i}" for i in range(10)]
    per_space = 25
    errors: list[str] = []

    def writer(space: str, thread_no: int) -> None:
        client = Api(server.url)
        for n in range(per_space):
            if n % 3 != thread_no:
                continue
            response = client.remember(space, f"{space} memory {n}", id=f"m{n}")  # ids overlap across spaces
            if response.status_code != 201:
                errors.append(f"{space} m{n}: {response.status_code} {response.text}")

    threads = [threading.Thread(target=writer, args=(s, t)) for s in spaces for t in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    client = Api(server.url)
    for space in spaces:
        listed = client.list(space, limit=1000)
        assert listed["total"] == per_space
        assert {m["content"] for m in listed["memories"]} == {f"{space} memory {n}" for n in range(per_space)}
        assert client.get(f"/api/v1/spaces/{space}").json()["memories"] == per_space


def test_each_space_wal_holds_only_its_own_records(server, api, unique):
    alpha, beta = f"{unique}-alpha", f"{unique}-beta"
    for i in range(5):
        assert api.remember(alpha, f"alpha record {i}", id=f"a{i}").status_code == 201
        assert api.remember(beta, f"beta record {i}", id=f"b{i}").status_code == 201
    for space, prefix in ((alpha, "a"), (beta, "b")):
        wal_dir = server.data_dir / space / "wal"
        assert wal_dir.is_dir()
        payloads, report = replay(wal_dir)
        records = [decode_record(payload) for payload in payloads]
        assert report.dropped_bytes == 0
        assert sorted(r.id for r in records if isinstance(r, PutRecord)) == [f"{prefix}{i}" for i in range(5)]
        assert all(r.content.startswith(space.rsplit("-", 1)[1]) for r in records)


def test_spaces_land_on_the_worker_placement_chose(api, unique):
    spaces = [f"{unique}-p{i}" for i in range(6)]
    pids = {}
    counted_before = {w["id"]: w["spaces"] for w in api.get("/health").json()["workers"]}
    for space in spaces:
        assert api.remember(space, "placed").status_code == 201
        detail = api.get(f"/api/v1/spaces/{space}").json()
        assert detail["worker"]["id"] == owner(space, 2)
        pids[detail["worker"]["id"]] = detail["worker"]["pid"]
    health = api.get("/health").json()
    assert {w["id"]: w["pid"] for w in health["workers"] if w["id"] in pids} == pids
    placed = [owner(space, 2) for space in spaces]  # the counts health reports follow every create
    assert {w["id"]: w["spaces"] - counted_before[w["id"]] for w in health["workers"]} == {
        slot: placed.count(slot) for slot in (0, 1)
    }
