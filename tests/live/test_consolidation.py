"""Consolidation through the live server: patterns from similar episodes, scheduled passes, restarts."""

from __future__ import annotations

from engram.testing import wait_until
from tests.conftest import Api


def _episode(api: Api, space: str, episode_id: str, what: str, embedding: list[float], when: str) -> None:
    body = {"id": episode_id, "what": what, "when": when, "embedding": embedding}
    response = api.post(f"/api/v1/spaces/{space}/episodes", json=body)
    assert response.status_code == 201, response.text


def _park_episodes(api: Api, space: str) -> None:
    assert api.post("/api/v1/spaces", json={"id": space, "dim": 4}).status_code in (200, 201)
    _episode(api, space, "e1", "walked the dog in the park", [1.0, 0.05, 0, 0], "2026-01-01T09:00:00Z")
    _episode(api, space, "e2", "the dog chased a ball in the park", [1.0, 0, 0.05, 0], "2026-01-02T09:00:00Z")
    _episode(api, space, "e3", "park walk with the dog at dawn", [1.0, 0.05, 0.05, 0], "2026-01-03T09:00:00Z")
    _episode(api, space, "e4", "paid the electricity bill", [0, 0, 0, 1.0], "2026-01-04T09:00:00Z")


def _consolidations(api: Api, space: str) -> dict:
    response = api.get(f"/api/v1/spaces/{space}/consolidations")
    assert response.status_code == 200, response.text
    return response.json()


def test_three_similar_episodes_consolidate_into_one_pattern_citing_all_three(api, unique):
    alpha, beta = f"{unique}-alpha", f"{unique}-beta"
    _park_episodes(api, alpha)
    _park_episodes(api, beta)
    response = api.post(f"/api/v1/spaces/{alpha}/consolidate")
    assert response.status_code == 200, response.text
    beliefs = response.json()["beliefs"]
    assert len(beliefs) == 1
    assert sorted(c["episode_id"] for c in beliefs[0]["citations"]) == ["e1", "e2", "e3"]
    assert {"dog", "park"} <= set(beliefs[0]["summary"].split())
    one = api.get(f"/api/v1/spaces/{alpha}/consolidations/{beliefs[0]['id']}")
    assert one.status_code == 200 and one.json()["stats"]["episode_count"] == 3
    compat = api.get("/api/v1/consolidations", headers={"X-Memory-Space": alpha}).json()
    assert [b["id"] for b in compat["beliefs"]] == [beliefs[0]["id"]]
    # beta has not been consolidated: its result is its own (empty until its pass runs)
    assert _consolidations(api, beta)["memory_space_id"] == beta
    missing = api.get(f"/api/v1/spaces/{alpha}/consolidations/pat_nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "CONSOLIDATION_NOT_FOUND"


def test_scheduled_consolidation_follows_the_space_and_survives_restart(make_server, tmp_path):
    config = tmp_path / "engram.toml"
    config.write_text("[workers]\nconsolidation_interval_s = 0.5\n")
    running = make_server(workers=1, extra_args=["--config", str(config)])
    api = Api(running.url)
    _park_episodes(api, "pets")

    def cited() -> list[list[str]]:
        return [sorted(c["episode_id"] for c in b["citations"]) for b in _consolidations(api, "pets")["beliefs"]]

    wait_until(lambda: cited() == [["e1", "e2", "e3"]], message="the scheduled pass finding the pattern")
    _episode(api, "pets", "e5", "dog fetched the stick in the park", [1.0, 0.04, 0.04, 0], "2026-01-05T09:00:00Z")
    wait_until(lambda: cited() == [["e1", "e2", "e3", "e5"]], message="the next pass including the new episode")
    before = _consolidations(api, "pets")
    running.restart()
    api = Api(running.url)
    after = _consolidations(api, "pets")
    assert after["beliefs"] == before["beliefs"]
    assert after["stats"]["total_replays"] == before["stats"]["total_replays"]
