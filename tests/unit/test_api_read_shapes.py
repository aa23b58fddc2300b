"""The REST edge's read routes with a fake router: list, get and recall shapes and parameters."""

from __future__ import annotations

import numpy as np
import pytest
from falcon import testing

from engram import protocol
from engram.errors import EngramError, ErrorCode
from tests.unit.api_fakes import FakeGateway, error_of, record

PLAIN_MEMORY_FACETS = {"kind": "memory", "tags": [], "memory_type": "episodic", "metadata": {}}
RECALLED_FIELDS = {
    "id",
    "content",
    "confidence",
    "activation_level",
    "similarity_score",
    "retrieval_path",
    "observed_at",
    "last_access",
    "tags",
    "memory_type",
    "relevance_explanation",
    "kind",
    "metadata",
    "hops",
}


# --- list and get --------------------------------------------------------------------------------------


def test_list_memories_answers_the_original_shape_with_totals(client: testing.TestClient, gateway: FakeGateway) -> None:
    result = client.simulate_get("/api/v1/memories", params={"space": "alpha", "offset": "10", "limit": "2"})
    assert result.json == {
        "memories": [
            {
                "id": "mem_1",
                "content": "content of mem_1",
                "confidence": 0.9,
                "timestamp": "2024-01-04T08:15:00Z",
                **PLAIN_MEMORY_FACETS,
            },
            {
                "id": "mem_2",
                "content": "content of mem_2",
                "confidence": 0.9,
                "timestamp": "2024-01-04T08:15:00Z",
                **PLAIN_MEMORY_FACETS,
            },
        ],
        "count": 2,
        "total": 42,
        "pagination": {"offset": 10, "limit": 2, "returned": 2},
        "tier_counts": {"hot": 42, "warm": 0, "cold": 0, "total": 42},
    }
    assert gateway.last == (protocol.ListMemories(offset=10, limit=2, include_embeddings=False), "alpha")


def test_list_memories_with_embeddings_renders_them_as_floats(client: testing.TestClient, gateway: FakeGateway) -> None:
    vector = np.array([0.5, -0.25], dtype="<f4").tobytes()
    gateway.results["list_memories"] = protocol.MemoryPage([record(embedding=vector)], 1)
    result = client.simulate_get("/api/v1/spaces/alpha/memories", params={"include_embeddings": "true"})
    assert result.json["memories"][0]["embedding"] == [0.5, -0.25]
    assert gateway.last == (protocol.ListMemories(include_embeddings=True), "alpha")


@pytest.mark.parametrize(
    ("name", "value"),
    [("limit", "0"), ("limit", "1001"), ("offset", "-1"), ("limit", "ten"), ("include_embeddings", "maybe")]
    + [("offset", str(2**64))],
)
def test_list_memories_bad_query_parameter_is_400_naming_it(client: testing.TestClient, name: str, value: str) -> None:
    error = error_of(client.simulate_get("/api/v1/memories", params={name: value}), 400, ErrorCode.INVALID_MEMORY_INPUT)
    assert f"'{name}'" in error["message"]


def test_get_memory_answers_the_original_shape(client: testing.TestClient, gateway: FakeGateway) -> None:
    result = client.simulate_get("/api/v1/memories/mem_1", headers={"X-Memory-Space": "alpha"})
    assert result.json == {
        "id": "mem_1",
        "content": "content of mem_1",
        "confidence": 0.9,
        "timestamp": "2024-01-04T08:15:00Z",
        "memory_type": "episodic",
        "stored_at": "2025-10-21T18:29:18.500000Z",
        "last_access": "2025-10-21T18:29:18.500000Z",
        "memory_space_id": "alpha",
        "kind": "memory",
        "tags": [],
        "metadata": {},
        "current_confidence": 0.9,
        "access_count": 0,
        "decay_rate": 0.1,
        "links": [],
    }
    assert gateway.last == (protocol.GetMemory("mem_1"), "alpha")


def test_get_memory_path_style_and_worker_404(client: testing.TestClient, gateway: FakeGateway) -> None:
    gateway.fail["get_memory"] = EngramError(ErrorCode.MEMORY_NOT_FOUND, "Memory 'mem_x' not found.")
    error_of(client.simulate_get("/api/v1/spaces/alpha/memories/mem_x"), 404, ErrorCode.MEMORY_NOT_FOUND)
    assert gateway.last == (protocol.GetMemory("mem_x"), "alpha")


# --- recall --------------------------------------------------------------------------------------------


def test_recall_by_query_splits_vivid_and_associated_by_similarity(
    client: testing.TestClient, gateway: FakeGateway
) -> None:
    result = client.simulate_get("/api/v1/memories/recall", params={"query": "mitochondria", "space": "alpha"})
    assert result.status_code == 200
    body = result.json
    assert set(body) == {"memories", "recall_confidence", "query_analysis", "metadata", "system_message"}
    vivid, associated = body["memories"]["vivid"], body["memories"]["associated"]
    assert [m["id"] for m in vivid] == ["mem_1"] and [m["id"] for m in associated] == ["mem_2"]
    assert body["memories"]["reconstructed"] == []
    assert set(vivid[0]) == RECALLED_FIELDS
    assert vivid[0]["confidence"] == {
        "value": 0.9,
        "category": "High",
        "reasoning": "Stored confidence 0.90 after forgetting since the last access",
    }
    assert vivid[0]["activation_level"] == pytest.approx(0.8)  # a seed's activation is its cue similarity
    assert (vivid[0]["similarity_score"], vivid[0]["memory_type"], vivid[0]["tags"]) == (0.8, "Episodic", [])
    assert body["metadata"] is None
    assert body["recall_confidence"]["category"] == "High"
    assert set(body["query_analysis"]) == {
        "understood_intent",
        "search_strategy",
        "cognitive_load",
        "suggestions",
    }
    assert gateway.last == (protocol.Recall(query="mitochondria"), "alpha")


def test_recall_by_embedding_sends_float32_bytes_and_parameters(
    client: testing.TestClient, gateway: FakeGateway
) -> None:
    params = {"embedding": "[0.5, 1, -2]", "threshold": "0.3", "max_results": "5", "include_metadata": "true"}
    result = client.simulate_get("/api/v1/memories/recall", params=params)
    assert result.json["metadata"]["total_memories_searched"] == 7
    request, space = gateway.last
    assert space == "default"
    assert isinstance(request, protocol.Recall)
    assert (request.query, request.threshold, request.max_results) == (None, 0.3, 5)
    assert np.frombuffer(request.embedding or b"", dtype="<f4").tolist() == [0.5, 1.0, -2.0]


def test_recall_post_path_style_takes_a_json_body(client: testing.TestClient, gateway: FakeGateway) -> None:
    body = {"query": "cells", "embedding": [1.0, 0.0], "max_results": 3, "mode": "similarity"}
    assert client.simulate_post("/api/v1/spaces/alpha/recall", json=body).status_code == 200
    request, space = gateway.last
    assert space == "alpha"
    assert (request.query, request.max_results) == ("cells", 3)  # type: ignore[attr-defined]


def test_recall_without_query_or_embedding_is_400(client: testing.TestClient, gateway: FakeGateway) -> None:
    error = error_of(client.simulate_get("/api/v1/memories/recall"), 400, ErrorCode.INVALID_MEMORY_INPUT)
    assert error["message"].startswith("Recall requires either a text query or embedding vector")
    assert gateway.calls == []


@pytest.mark.parametrize(
    "params",
    [
        {"query": "x", "mode": "telepathy"},
        {"query": "x", "threshold": "1.5"},
        {"query": "x", "max_results": "0"},
        {"embedding": "not json"},
        {"embedding": '["a"]'},
    ],
    ids=["mode", "threshold", "max-results", "embedding-not-json", "embedding-not-floats"],
)
def test_recall_bad_parameters_are_400_invalid_memory_input(
    client: testing.TestClient, gateway: FakeGateway, params: dict[str, str]
) -> None:
    error_of(client.simulate_get("/api/v1/memories/recall", params=params), 400, ErrorCode.INVALID_MEMORY_INPUT)
    assert gateway.calls == []
