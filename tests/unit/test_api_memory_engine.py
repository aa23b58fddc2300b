"""The REST edge of the memory engine with a fake router: episodes, associations and recall's groups and paths."""

from __future__ import annotations

import pytest
from falcon import testing

from engram import protocol
from engram.errors import ErrorCode
from tests.unit.api_fakes import OBSERVED_AT, STORED_AT, FakeGateway, error_of, record

EPISODE = {
    "when": "2024-01-04T08:15:00Z",
    "what": "Met Ana at the lab",
    "where_location": "lab",
    "who": ["Ana"],
    "why": "review",
    "how": "in person",
    "emotional_valence": -0.25,
    "importance": 0.8,
    "tags": ["work"],
    "metadata": {"room": "4"},
    "decay_rate": 0.2,
    "auto_link": True,
    "link_threshold": 0.9,
}


@pytest.mark.parametrize("path", ["/api/v1/spaces/alpha/episodes", "/api/v1/episodes/remember"])
def test_an_episode_becomes_a_memory_with_context_and_answers_the_remember_shape(
    client: testing.TestClient, gateway: FakeGateway, path: str
) -> None:
    links = [protocol.Link("ep_older", 0.5, "temporal")]
    stored = protocol.StoredMemory("ep_1a2b3c4d", 0.8, 0.45, OBSERVED_AT, STORED_AT, False, links)
    gateway.results["remember"] = protocol.Remembered([stored])

    result = client.simulate_post(path, json=EPISODE, headers={"X-Memory-Space": "alpha"})

    assert result.status_code == 201, result.text
    assert result.json["system_message"] == (
        "Episode 'ep_1a2b3c4d' successfully encoded with 0.45 activation. Rich episodes consolidate better over time."
    )
    assert result.json["auto_links"] == [{"target": "ep_older", "weight": 0.5, "kind": "temporal"}]
    (memory,) = gateway.last[0].memories  # type: ignore[attr-defined]
    assert gateway.last[1] == "alpha"
    assert (memory.content, memory.observed_at, memory.confidence, memory.id) == (
        EPISODE["what"],
        OBSERVED_AT,
        0.8,
        None,
    )
    assert memory.episode == protocol.EpisodeContext("lab", ["Ana"], "review", "in person", -0.25, 0.8)
    assert (memory.tags, memory.metadata, memory.decay_rate) == (["work"], {"room": "4"}, 0.2)
    assert (memory.auto_link, memory.link_threshold) == (True, 0.9)


def test_an_episode_without_importance_has_the_original_default_of_one_half(
    client: testing.TestClient, gateway: FakeGateway
) -> None:
    client.simulate_post("/api/v1/spaces/alpha/episodes", json={"when": EPISODE["when"], "what": "x"})
    (memory,) = gateway.last[0].memories  # type: ignore[attr-defined]
    assert memory.confidence == 0.5 and memory.episode.importance == 0.5


@pytest.mark.parametrize(
    "body",
    [{"what": "x"}, {"when": EPISODE["when"]}, {"when": EPISODE["when"], "what": " "}]
    + [{"when": "2024-01-04", "what": "x"}, {"when": EPISODE["when"], "what": "x", "importance": 2}],
    ids=["no-when", "no-what", "blank-what", "when-without-offset", "importance"],
)
def test_bad_episodes_are_400_and_never_reach_the_router(
    client: testing.TestClient, gateway: FakeGateway, body: dict
) -> None:
    result = client.simulate_post("/api/v1/spaces/alpha/episodes", json=body)
    assert result.status_code == 400 and gateway.calls == []


def test_an_association_is_sent_and_answered_201(client: testing.TestClient, gateway: FakeGateway) -> None:
    gateway.results["associate"] = protocol.Associated("a", "b", 0.4)
    result = client.simulate_post(
        "/api/v1/spaces/alpha/associations", json={"source": "a", "target": "b", "weight": 0.4}
    )
    assert result.status_code == 201
    assert result.json == {"source": "a", "target": "b", "weight": 0.4, "kind": "explicit", "memory_space_id": "alpha"}
    assert gateway.last == (protocol.Associate("a", "b", 0.4), "alpha")


@pytest.mark.parametrize("weight", [0, -1, 1.0001])
def test_an_association_weight_outside_zero_to_one_is_400(
    client: testing.TestClient, gateway: FakeGateway, weight: float
) -> None:
    body = {"source": "a", "target": "b", "weight": weight}
    error = error_of(
        client.simulate_post("/api/v1/spaces/alpha/associations", json=body), 400, ErrorCode.INVALID_MEMORY_INPUT
    )
    assert "weight" in error["message"] and gateway.calls == []


def test_recall_groups_hits_by_how_they_were_reached_and_traces_their_paths(
    client: testing.TestClient, gateway: FakeGateway
) -> None:
    faded = record("faded", 0.9)
    faded.current_confidence = 0.1
    gateway.results["recall"] = protocol.RecallResult(
        [
            protocol.Hit(record("cue", 0.9), 0.95, 0.95, 0.9, "similarity", 0, ["cue"]),
            protocol.Hit(record("weak-cue", 0.9), 0.6, 0.6, 0.5, "similarity", 0, ["weak-cue"]),
            protocol.Hit(record("one-hop", 0.9), 0.0, 0.4, 0.2, "spreading", 1, ["cue", "one-hop"]),
            protocol.Hit(faded, 0.0, 0.4, 0.02, "spreading", 1, ["cue", "faded"]),
            protocol.Hit(record("two-hops", 0.9), 0.0, 0.2, 0.1, "spreading", 2, ["cue", "one-hop", "two-hops"]),
        ],
        searched=9,
        spread_hops=2,
    )
    body = {"query": "x", "mode": "spreading", "max_depth": 4, "trace_activation": True, "include_metadata": True}

    result = client.simulate_post("/api/v1/spaces/alpha/recall", json=body).json

    groups = {name: [m["id"] for m in items] for name, items in result["memories"].items()}
    assert groups == {"vivid": ["cue"], "associated": ["weak-cue", "one-hop"], "reconstructed": ["faded", "two-hops"]}
    two_hops = result["memories"]["reconstructed"][1]
    assert two_hops["activation_path"] == ["cue", "one-hop", "two-hops"]
    assert (two_hops["retrieval_path"], two_hops["hops"], two_hops["activation_level"]) == (
        "cue -> one-hop -> two-hops",
        2,
        0.2,
    )
    assert result["memories"]["reconstructed"][0]["confidence"]["value"] == 0.1
    assert result["metadata"]["activation_spread_hops"] == 2
    request = gateway.last[0]
    assert (request.mode, request.max_depth, request.trace) == ("spreading", 4, True)  # type: ignore[attr-defined]
