"""Search, real deletes and filters through the live server, never across spaces."""

from __future__ import annotations

from tests.conftest import Api, recalled_ids


def test_a_deleted_memory_is_gone_from_recall_list_and_search_and_after_restart(make_server):
    running = make_server(workers=2)
    api = Api(running.url)
    for space in ("alpha", "beta"):
        assert api.remember(space, f"the {space} lighthouse keeper", id="keeper").status_code == 201
        assert api.remember(space, f"the {space} harbour master", id="master").status_code == 201
    deleted = api.request("DELETE", "/api/v1/spaces/alpha/memories/keeper")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"status": "deleted", "memory_id": "keeper", "memory_space_id": "alpha"}

    def gone_from_alpha(client: Api) -> None:
        assert client.get("/api/v1/spaces/alpha/memories/keeper").status_code == 404
        assert [m["id"] for m in client.list("alpha")["memories"]] == ["master"]
        assert "keeper" not in recalled_ids(client.recall("alpha", query="lighthouse keeper", threshold=0.0))
        search = client.get("/api/v1/spaces/alpha/search", params={"query": "lighthouse"}).json()
        assert search["memories"] == [] and search["total"] == 0
        # beta's memory with the same id is untouched
        assert client.get("/api/v1/spaces/beta/memories/keeper").json()["content"] == "the beta lighthouse keeper"

    gone_from_alpha(api)
    running.restart()
    gone_from_alpha(Api(running.url))


def test_deleting_through_the_compatible_route_and_missing_ids(api, unique):
    space = f"{unique}-del"
    assert api.remember(space, "short lived", id="brief").status_code == 201
    response = api.request("DELETE", "/api/v1/memories/brief", headers={"X-Memory-Space": space})
    assert response.status_code == 200
    again = api.request("DELETE", "/api/v1/memories/brief", headers={"X-Memory-Space": space})
    assert again.status_code == 404 and again.json()["error"]["code"] == "MEMORY_NOT_FOUND"
    ghost = api.request("DELETE", f"/api/v1/spaces/{unique}-never/memories/x")
    assert ghost.status_code == 404
    assert f"{unique}-never" not in [s["id"] for s in api.get("/api/v1/spaces").json()["spaces"]]


def test_search_finds_content_words_in_its_own_space_only(api, unique):
    alpha, beta = f"{unique}-alpha", f"{unique}-beta"
    assert api.remember(alpha, "quarterly revenue grew in the northern region", id="r1").status_code == 201
    assert api.remember(alpha, "the team offsite is in lisbon", id="r2").status_code == 201
    assert api.remember(beta, "quarterly revenue fell in the southern region", id="r1").status_code == 201
    found = api.get("/api/v1/memories/search", params={"query": "quarterly revenue", "space": alpha}).json()
    assert [(m["id"], m["content"]) for m in found["memories"]] == [
        ("r1", "quarterly revenue grew in the northern region")
    ]
    assert found["total"] == 1
    missing = api.get("/api/v1/memories/search", params={"space": alpha})
    assert missing.status_code == 400 and "query" in missing.json()["error"]["message"]


def test_list_filters_by_time_range(api, unique):
    space = f"{unique}-time"
    for day in (1, 2, 3, 4):
        body = {"id": f"d{day}", "content": f"day {day} log", "timestamp": f"2026-03-0{day}T12:00:00Z"}
        assert api.post(f"/api/v1/spaces/{space}/memories", json=body).status_code == 201
    params = {"from_time": "2026-03-02T00:00:00Z", "to_time": "2026-03-03T23:59:59Z"}
    listed = api.list(space, **params)
    assert [m["id"] for m in listed["memories"]] == ["d2", "d3"] and listed["total"] == 2
    bad = api.get(f"/api/v1/spaces/{space}/memories", params={"from_time": "yesterday"})
    assert bad.status_code == 400


def test_recall_and_list_filter_by_tags_and_kind(api, unique):
    space = f"{unique}-tags"
    assert api.remember(space, "budget review for the garden project", id="g1", tags=["work", "garden"]).ok
    assert api.remember(space, "garden party with the neighbours", id="g2", tags=["home", "garden"]).ok
    episode = {"id": "g3", "what": "planted tulips in the garden", "when": "2026-04-01T10:00:00Z", "tags": ["garden"]}
    assert api.post(f"/api/v1/spaces/{space}/episodes", json=episode).status_code == 201

    def recalled(**filters) -> set[str]:
        body = {"query": "garden", "threshold": 0.0, "max_results": 10, "mode": "similarity", "filters": filters}
        return set(recalled_ids(api.recall(space, **body)))

    assert recalled() == {"g1", "g2", "g3"}
    assert recalled(tags=["work"]) == {"g1"}
    assert recalled(exclude_tags=["work"]) == {"g2", "g3"}
    assert recalled(kind="episode") == {"g3"}
    by_query = api.get("/api/v1/memories/recall", params={"query": "garden", "space": space, "required_tags": "home"})
    assert set(recalled_ids(by_query.json())) == {"g2"}
    assert [m["id"] for m in api.list(space, tags="garden,home")["memories"]] == ["g2"]
    assert api.get(f"/api/v1/spaces/{space}/memories", params={"kind": "dream"}).status_code == 400
