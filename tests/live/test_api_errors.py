"""Bad input gets a 4xx with a stable code and a hint, loses nothing, and the server keeps serving."""

from __future__ import annotations

import pytest


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"] and isinstance(error["hint"], str)
    return error


def test_create_space_is_create_or_get(api, unique):
    space = f"{unique}-new"
    first = api.post("/api/v1/spaces", json={"id": space, "dim": 384})
    second = api.post("/api/v1/spaces", json={"id": space})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["dim"] == second.json()["dim"] == 384
    detail = api.get(f"/api/v1/spaces/{space}").json()
    assert (detail["id"], detail["dim"], detail["memories"]) == (space, 384, 0)
    assert {"id", "pid"} <= set(detail["worker"])
    listed = [s["id"] for s in api.get("/api/v1/spaces").json()["spaces"]]
    assert space in listed and listed == sorted(listed)


def test_create_with_another_dimension_is_a_conflict(api, unique):
    space = f"{unique}-dim"
    assert api.post("/api/v1/spaces", json={"id": space, "dim": 8}).status_code == 201
    error = _error(api.post("/api/v1/spaces", json={"id": space, "dim": 16}), 409, "DIMENSION_CONFLICT")
    assert "dimension 8" in error["message"]


def test_unknown_space_is_404_and_reads_do_not_create_it(api, unique):
    space = f"{unique}-ghost"
    _error(api.get(f"/api/v1/spaces/{space}"), 404, "MEMORY_SPACE_NOT_FOUND")
    assert api.list(space)["memories"] == []
    assert api.recall(space, query="anything")["memories"]["vivid"] == []
    _error(api.get(f"/api/v1/spaces/{space}/memories/nope"), 404, "MEMORY_NOT_FOUND")
    assert space not in [s["id"] for s in api.get("/api/v1/spaces").json()["spaces"]]


def test_a_write_creates_its_space_with_the_default_dimension(api, unique):
    space = f"{unique}-auto"
    assert api.remember(space, "first write creates the space").status_code == 201
    assert api.get(f"/api/v1/spaces/{space}").json()["dim"] == 768


@pytest.mark.parametrize("bad", ["AB", "has space", "x" * 65, "emoji😀x", "dot.dot"])
def test_invalid_space_ids_are_400_everywhere(api, bad):
    _error(api.post("/api/v1/spaces", json={"id": bad}), 400, "INVALID_MEMORY_SPACE_ID")
    if bad.isascii():
        response = api.post("/api/v1/memories/remember", json={"content": "x"}, headers={"X-Memory-Space": bad})
        assert "X-Memory-Space header" in _error(response, 400, "INVALID_MEMORY_SPACE_ID")["message"]
    # Not every id can travel in a header (HTTP headers are latin-1), so the query parameter is checked for all.
    response = api.post("/api/v1/memories/remember", json={"content": "x"}, params={"space": bad})
    assert "query parameter" in _error(response, 400, "INVALID_MEMORY_SPACE_ID")["message"]


def test_malformed_json_is_400_bad_request(api, unique):
    response = api.post(
        f"/api/v1/spaces/{unique}-json/memories", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    _error(response, 400, "BAD_REQUEST")
    wrong_type = api.post(f"/api/v1/spaces/{unique}-json/memories", json={"content": 42})
    assert "content" in _error(wrong_type, 400, "BAD_REQUEST")["message"]


def test_wrong_embedding_length_and_empty_content_are_400_and_store_nothing(api, unique):
    space = f"{unique}-val"
    assert api.post("/api/v1/spaces", json={"id": space, "dim": 4}).status_code == 201
    error = _error(api.remember(space, "x", embedding=[0.1, 0.2]), 400, "INVALID_MEMORY_INPUT")
    assert "4" in error["message"] and "2" in error["message"]
    _error(api.remember(space, "   "), 400, "INVALID_MEMORY_INPUT")
    _error(api.remember(space, "too sure", confidence=2), 400, "INVALID_MEMORY_INPUT")
    _error(api.remember(space, "zero vector", embedding=[0, 0, 0, 0]), 400, "INVALID_MEMORY_INPUT")
    assert api.list(space)["total"] == 0
    assert api.remember(space, "still serving", embedding=[1, 0, 0, 0]).status_code == 201


def test_unknown_memory_and_unknown_route(api, unique):
    space = f"{unique}-404"
    assert api.remember(space, "exists", id="here").status_code == 201
    _error(api.get(f"/api/v1/spaces/{space}/memories/missing"), 404, "MEMORY_NOT_FOUND")
    _error(api.get("/api/v1/no/such/route"), 404, "ROUTE_NOT_FOUND")


def test_recall_needs_a_cue(api, unique):
    error = _error(api.get("/api/v1/memories/recall", params={"space": f"{unique}-cue"}), 400, "INVALID_MEMORY_INPUT")
    assert "query" in error["message"]


def test_distinct_texts_never_collapse_into_one_memory(api, unique):
    space = f"{unique}-distinct"
    texts = [f"note number {i} about topic {i * 7}" for i in range(30)]
    ids = [api.remember(space, text).json()["memory_id"] for text in texts]
    assert len(set(ids)) == 30
    assert api.list(space)["total"] == 30
    hit = api.recall(space, query="topic 49")["memories"]["vivid"]
    assert hit and hit[0]["content"] == "note number 7 about topic 49"
