"""The memory engine through a live server: episodes, associations, spreading, decay and reinforcement, per space."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from tests.conftest import Api, recalled_ids

DIM = 8
A, B, C = [1.0, 0, 0, 0, 0, 0, 0, 0], [0, 1.0, 0, 0, 0, 0, 0, 0], [0, 0, 1.0, 0, 0, 0, 0, 0]


def create(api: Api, space: str) -> None:
    response = api.post("/api/v1/spaces", json={"id": space, "dim": DIM})
    assert response.status_code in (200, 201), response.text


def associate(api: Api, space: str, source: str, target: str, weight: float = 0.9) -> dict:
    response = api.post(
        f"/api/v1/spaces/{space}/associations", json={"source": source, "target": target, "weight": weight}
    )
    assert response.status_code == 201, response.text
    return response.json()


def get(api: Api, space: str, memory_id: str) -> dict:
    response = api.get(f"/api/v1/spaces/{space}/memories/{memory_id}")
    assert response.status_code == 200, response.text
    return response.json()


def all_recalled(result: dict) -> dict[str, dict]:
    memories = result["memories"]
    return {m["id"]: m for m in memories["vivid"] + memories["associated"] + memories["reconstructed"]}


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def make_chain(api: Api, space: str, contents: tuple[str, str, str] = ("a", "b", "c")) -> None:
    """a - b - c by explicit associations; only a points where the cue A points."""
    create(api, space)
    for memory_id, content, embedding in zip(("a", "b", "c"), contents, (A, B, C), strict=True):
        assert api.remember(space, content, id=memory_id, embedding=embedding).status_code == 201
    associate(api, space, "a", "b")
    associate(api, space, "b", "c")


def test_spreading_reaches_a_memory_that_similarity_alone_does_not(api, unique):
    space = f"{unique}-chain"
    make_chain(api, space)

    similarity = api.recall(space, embedding=A, mode="similarity")
    assert recalled_ids(similarity) == ["a"]

    for mode in ("hybrid", "spreading"):
        result = api.recall(space, embedding=A, mode=mode, trace_activation=True, include_metadata=True)
        found = all_recalled(result)
        assert set(found) == {"a", "b", "c"}, mode
        assert found["c"]["activation_path"] == ["a", "b", "c"]
        assert found["c"]["retrieval_path"] == "a -> b -> c"
        assert [m["id"] for m in result["memories"]["vivid"]] == ["a"]
        assert [m["id"] for m in result["memories"]["associated"]] == ["b"]
        assert [m["id"] for m in result["memories"]["reconstructed"]] == ["c"]
        assert found["a"]["similarity_score"] == 1.0 and found["c"]["similarity_score"] == 0.0
        assert math.isclose(found["c"]["activation_level"], 0.9 * 0.9 * math.exp(-1.4), rel_tol=1e-6)
        assert found["a"]["activation_level"] > found["b"]["activation_level"] > found["c"]["activation_level"]
        assert result["metadata"]["activation_spread_hops"] == 2

    one_hop = api.recall(space, embedding=A, max_depth=1, include_metadata=True)
    assert set(all_recalled(one_hop)) == {"a", "b"} and one_hop["metadata"]["activation_spread_hops"] == 1
    get_style = api.get(
        "/api/v1/memories/recall",
        params={"embedding": str(A), "mode": "spreading", "trace_activation": "true"},
        headers={"X-Memory-Space": space},
    )
    assert get_style.status_code == 200 and all_recalled(get_style.json())["c"]["activation_path"] == ["a", "b", "c"]


def test_deleting_or_replacing_a_memory_removes_its_edges_from_spreading(api, unique):
    space = f"{unique}-cut"
    make_chain(api, space)
    assert api.remember(space, "b rewritten", id="b", embedding=B).status_code == 201
    assert set(all_recalled(api.recall(space, embedding=A))) == {"a"}
    assert get(api, space, "a")["links"] == []

    associate(api, space, "a", "b")
    associate(api, space, "b", "c")
    assert api.request("DELETE", f"/api/v1/spaces/{space}/memories/b").status_code == 200
    assert set(all_recalled(api.recall(space, embedding=A))) == {"a"}
    assert get(api, space, "c")["links"] == []


def test_decay_changes_the_order_of_two_memories_the_cue_matches_equally(api, unique):
    space = f"{unique}-decay"
    create(api, space)
    now = datetime.now(UTC)
    # Stored first but observed recently, stored second but observed long ago: without decay the newer write
    # would win the tie (the control below), with decay the fresher memory does.
    for memory_id, hours_ago in (("fresh", 1), ("faded", 10)):
        when = rfc3339(now - timedelta(hours=hours_ago))
        assert api.remember(space, memory_id, id=memory_id, embedding=A, timestamp=when).status_code == 201
    for memory_id in ("fresh-control", "faded-control"):
        when = rfc3339(now - timedelta(hours=10))
        assert (
            api.remember(space, memory_id, id=memory_id, embedding=B, timestamp=when, decay_rate=0).status_code == 201
        )

    result = api.recall(space, embedding=A)
    assert recalled_ids(result) == ["fresh", "faded"]
    fresh, faded = result["memories"]["vivid"]
    assert fresh["confidence"]["value"] > faded["confidence"]["value"]
    assert math.isclose(faded["confidence"]["value"], 0.7 * math.exp(-0.1 * 10), rel_tol=0.01)
    assert recalled_ids(api.recall(space, embedding=B)) == ["faded-control", "fresh-control"]

    # The per-memory rate decides too: same time, same content similarity, different decay_rate.
    when = rfc3339(now - timedelta(hours=2))
    for memory_id, rate in (("slow", 0.01), ("fast", 1.0)):
        assert api.remember(space, memory_id, id=memory_id, embedding=C, timestamp=when, decay_rate=rate).ok
    assert recalled_ids(api.recall(space, embedding=C)) == ["slow", "fast"]


def test_recalling_a_memory_reinforces_it(api, unique):
    space = f"{unique}-reinforce"
    create(api, space)
    assert api.remember(space, "remembered often", id="often", embedding=A).status_code == 201
    assert api.remember(space, "never recalled", id="never", embedding=B).status_code == 201
    before = get(api, space, "often")
    assert before["access_count"] == 0

    for expected in (1, 2):
        assert recalled_ids(api.recall(space, embedding=A)) == ["often"]
        after = get(api, space, "often")
        assert after["access_count"] == expected
    assert after["confidence"] > before["confidence"] and after["last_access"] >= before["last_access"]
    assert get(api, space, "never")["access_count"] == 0


EPISODE = {
    "when": "2024-03-01T09:30:00Z",
    "what": "Planned the launch with the team",
    "where_location": "Office 4B",
    "who": ["Ana", "Bo"],
    "why": "the launch date moved",
    "how": "whiteboard session",
    "emotional_valence": 0.6,
    "importance": 0.8,
    "tags": ["launch", "planning"],
    "metadata": {"project": "apollo"},
    "memory_type": "episodic",
}
EPISODE_FIELDS = ("where_location", "who", "why", "how", "emotional_valence", "importance", "tags", "metadata")


def assert_is_the_episode(item: dict) -> None:
    assert (item["kind"], item["when"], item["what"]) == ("episode", EPISODE["when"], EPISODE["what"])
    assert {field: item[field] for field in EPISODE_FIELDS} == {field: EPISODE[field] for field in EPISODE_FIELDS}


def test_an_episode_round_trips_every_field_through_get_list_and_recall(api, unique):
    space = f"{unique}-episodes"
    response = api.post(f"/api/v1/spaces/{space}/episodes", json=EPISODE)
    assert response.status_code == 201, response.text
    body = response.json()
    episode_id = body["memory_id"]
    assert re.fullmatch(r"ep_[0-9a-f]{8}", episode_id)
    assert body["system_message"] == (
        f"Episode '{episode_id}' successfully encoded with {body['storage_confidence']['value']:.2f} activation. "
        "Rich episodes consolidate better over time."
    )
    assert body["observed_at"] == EPISODE["when"] and body["storage_confidence"]["value"] > 0.79

    got = get(api, space, episode_id)
    assert_is_the_episode(got)
    assert (got["confidence"], got["decay_rate"], got["timestamp"]) == (0.8, 0.05, EPISODE["when"])
    (listed,) = api.list(space)["memories"]
    assert_is_the_episode(listed)
    (recalled,) = api.recall(space, query=EPISODE["what"])["memories"]["vivid"]
    assert_is_the_episode(recalled)


def test_the_compatible_episode_route_and_its_errors(api, unique):
    space = f"{unique}-compat-ep"
    headers = {"X-Memory-Space": space}
    response = api.post("/api/v1/episodes/remember", json={**EPISODE, "id": "ep_mine"}, headers=headers)
    assert response.status_code == 201 and response.json()["memory_id"] == "ep_mine"
    assert_is_the_episode(get(api, space, "ep_mine"))
    for bad in ({"what": "no when"}, {"when": EPISODE["when"], "what": "  "}, {"when": "yesterday", "what": "x"}):
        response = api.post("/api/v1/episodes/remember", json=bad, headers=headers)
        assert response.status_code == 400, bad
    response = api.post("/api/v1/episodes/remember", json={**EPISODE, "emotional_valence": 3}, headers=headers)
    assert response.status_code == 400 and "emotional_valence" in response.json()["error"]["message"]


def test_plain_memories_keep_tags_type_metadata_and_decay_rate(api, unique):
    space = f"{unique}-plain"
    fields = {"tags": ["a", "b"], "memory_type": "procedural", "metadata": {"k": "v"}, "decay_rate": 0.2}
    response = api.remember(space, "how to tie a knot", id="knot", confidence_reasoning="practised", **fields)
    assert response.status_code == 201
    got = get(api, space, "knot")
    assert {key: got[key] for key in fields} == fields
    assert (got["kind"], got["confidence_reasoning"]) == ("memory", "practised")
    (item,) = api.list(space)["memories"]
    assert (item["tags"], item["memory_type"], item["metadata"], item["kind"]) == (
        ["a", "b"],
        "procedural",
        {"k": "v"},
        "memory",
    )


def test_episodes_link_by_place_people_and_time_and_auto_link_by_similarity(api, unique):
    space = f"{unique}-links"
    create(api, space)
    first = api.post(
        f"/api/v1/spaces/{space}/episodes",
        json={
            "id": "standup",
            "when": "2024-03-01T09:00:00Z",
            "what": "standup",
            "where_location": "Office",
            "embedding": A,
        },
    )
    assert first.status_code == 201 and first.json()["auto_links"] == []
    second = api.post(
        f"/api/v1/spaces/{space}/episodes",
        json={
            "id": "retro",
            "when": "2024-03-01T09:30:00Z",
            "what": "retro",
            "where_location": "office",
            "embedding": C,
        },
    )
    assert {(link["target"], link["kind"]) for link in second.json()["auto_links"]} == {
        ("standup", "episode"),
        ("standup", "temporal"),
    }
    near = [1.0, 0.2, 0, 0, 0, 0, 0, 0]
    linked = api.remember(space, "similar", id="similar", embedding=near, auto_link=True, link_threshold=0.9).json()
    (link,) = linked["auto_links"]
    assert (link["target"], link["kind"]) == ("standup", "similarity")
    assert math.isclose(link["weight"], 1 / math.hypot(1, 0.2), rel_tol=1e-5)
    assert {(lk["target"], lk["kind"]) for lk in get(api, space, "standup")["links"]} == {
        ("retro", "episode"),
        ("retro", "temporal"),
        ("similar", "similarity"),
    }


def test_association_errors(api, unique):
    space = f"{unique}-assoc"
    make_chain(api, space)
    url = f"/api/v1/spaces/{space}/associations"
    missing = api.post(url, json={"source": "a", "target": "nope", "weight": 0.5})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "MEMORY_NOT_FOUND"
    for weight in (0, -0.1, 1.5):
        assert api.post(url, json={"source": "a", "target": "c", "weight": weight}).status_code == 400
    unknown = api.post(f"/api/v1/spaces/{unique}-never/associations", json={"source": "a", "target": "b"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "MEMORY_NOT_FOUND"
    assert api.get(f"/api/v1/spaces/{unique}-never").status_code == 404  # associating created nothing


def test_spreading_in_alpha_never_reaches_beta(api, unique):
    alpha, beta = f"{unique}-alpha", f"{unique}-beta"
    make_chain(api, alpha, ("alpha a", "alpha b", "alpha c"))
    create(api, beta)
    for memory_id, embedding in (("a", A), ("b", B), ("c", C), ("only-beta", [0, 0, 0, 1.0, 0, 0, 0, 0])):
        assert api.remember(beta, f"beta {memory_id}", id=memory_id, embedding=embedding).status_code == 201
    associate(api, beta, "a", "only-beta")
    associate(api, beta, "only-beta", "c")
    # The same ids and embeddings exist in both; only alpha's edges may carry alpha's activation.
    alpha_found = all_recalled(api.recall(alpha, embedding=A, max_depth=4, trace_activation=True, threshold=0.0))
    assert set(alpha_found) == {"a", "b", "c"}
    assert all(m["content"].startswith("alpha") for m in alpha_found.values())
    assert alpha_found["c"]["activation_path"] == ["a", "b", "c"]
    beta_found = all_recalled(api.recall(beta, embedding=A, max_depth=4, trace_activation=True))
    assert beta_found["c"]["activation_path"] == ["a", "only-beta", "c"]
    assert all(m["content"].startswith("beta") for m in beta_found.values())
    crossing = api.post(f"/api/v1/spaces/{alpha}/associations", json={"source": "a", "target": "only-beta"})
    assert crossing.status_code == 404


def test_associations_episodes_and_reinforcement_survive_a_restart(make_server):
    running = make_server(workers=2)
    api = Api(running.url)
    make_chain(api, "chain")
    assert api.post("/api/v1/spaces/chain/episodes", json={**EPISODE, "id": "ep_1", "embedding": A}).status_code == 201
    api.recall("chain", embedding=A)
    before = {memory_id: get(api, "chain", memory_id) for memory_id in ("a", "b", "c", "ep_1")}
    assert before["a"]["access_count"] == 1 and before["ep_1"]["access_count"] == 1
    assert [link["target"] for link in before["b"]["links"]] == ["a", "c"]

    running.restart()
    api = Api(running.url)

    after = {memory_id: get(api, "chain", memory_id) for memory_id in before}
    for memory_id in before:
        for key in ("links", "access_count", "confidence", "last_access", "tags", "metadata", "kind"):
            assert after[memory_id][key] == before[memory_id][key], (memory_id, key)
    assert_is_the_episode(after["ep_1"])
    found = all_recalled(api.recall("chain", embedding=A, trace_activation=True))
    assert found["c"]["activation_path"] == ["a", "b", "c"]
