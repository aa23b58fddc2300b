"""The REST edge's translation with a fake router: errors, health, spaces and remember.

Statuses, envelopes and shapes, and which op reaches the gateway for which space.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from falcon import testing

from engram import protocol
from engram.api.app import create_app
from engram.api.bodies import MAX_BODY_BYTES
from engram.config import Config
from engram.errors import EngramError, ErrorCode, unavailable
from tests.unit.api_fakes import OBSERVED_AT, FakeGateway, error_of

REMEMBER_FIELDS = {
    "memory_id",
    "storage_confidence",
    "consolidation_state",
    "observed_at",
    "stored_at",
    "links",
    "auto_links",
    "system_message",
}


# --- errors --------------------------------------------------------------------------------------------


def test_unknown_route_is_404_route_not_found_in_the_envelope(client: testing.TestClient) -> None:
    error_of(client.simulate_get("/api/v1/nothing"), 404, ErrorCode.ROUTE_NOT_FOUND)


def test_wrong_method_is_405_method_not_allowed_with_allow_header(client: testing.TestClient) -> None:
    result = client.simulate_get("/api/v1/memories/remember")
    error_of(result, 405, ErrorCode.METHOD_NOT_ALLOWED)
    assert "POST" in result.headers["allow"]


def test_unexpected_exception_is_500_memory_system_error_without_details(
    client: testing.TestClient, gateway: FakeGateway
) -> None:
    gateway.fail["get_memory"] = RuntimeError("secret internals")
    error = error_of(client.simulate_get("/api/v1/memories/mem_1"), 500, ErrorCode.MEMORY_SYSTEM_ERROR)
    assert "secret" not in error["message"]


def test_router_error_keeps_its_code_message_hint_and_retry_after(
    client: testing.TestClient, gateway: FakeGateway
) -> None:
    gateway.fail["list_memories"] = EngramError(
        ErrorCode.QUOTA_EXCEEDED, "Space 'alpha' is over quota.", hint="Slow down.", retry_after_s=2.5
    )
    result = client.simulate_get("/api/v1/memories", headers={"X-Memory-Space": "alpha"})
    assert error_of(result, 429, ErrorCode.QUOTA_EXCEEDED) == {
        "code": "QUOTA_EXCEEDED",
        "message": "Space 'alpha' is over quota.",
        "hint": "Slow down.",
    }
    assert result.headers["retry-after"] == "3"


def test_router_unavailable_is_503_with_retry_after(client: testing.TestClient, gateway: FakeGateway) -> None:
    gateway.fail["get_memory"] = unavailable("The router did not answer.")
    result = client.simulate_get("/api/v1/spaces/alpha/memories/mem_1")
    error_of(result, 503, ErrorCode.SERVICE_UNAVAILABLE)
    assert result.headers["retry-after"] == "1"


# --- health --------------------------------------------------------------------------------------------


def test_health_is_200_healthy_when_every_worker_is_ready(client: testing.TestClient, gateway: FakeGateway) -> None:
    result = client.simulate_get("/health")
    assert result.status_code == 200
    body = result.json
    assert (body["status"], body["service"]) == ("healthy", "engram")
    assert body["timestamp"].endswith("Z") and body["version"]
    assert body["workers"] == [{"id": 0, "pid": 4242, "alive": True, "ready": True, "restarts": 0, "spaces": 3}]
    assert gateway.last == (protocol.Ping(), None)


def test_health_is_503_degraded_when_a_worker_is_not_ready(client: testing.TestClient, gateway: FakeGateway) -> None:
    gateway.results["ping"] = protocol.Health("degraded", [protocol.WorkerStatus(0, None, False, False, 1, 3)], 3)
    result = client.simulate_get("/health")
    assert result.status_code == 503
    assert result.json["status"] == "degraded"


def test_health_is_503_when_the_router_is_unreachable(client: testing.TestClient, gateway: FakeGateway) -> None:
    gateway.fail["ping"] = unavailable("The router did not answer.")
    result = client.simulate_get("/health")
    assert result.status_code == 503
    assert result.json["status"] == "unhealthy"
    assert result.json["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert result.headers["retry-after"] == "1"


# --- spaces --------------------------------------------------------------------------------------------


DEFAULT_POLICY_FIELDS = {
    "durability": "fsync",
    "durability_interval_ms": 50,
    "max_memories": None,
    "max_bytes": None,
    "max_rps": None,
}


def test_list_spaces_is_sorted_by_id_with_rfc3339_times(client: testing.TestClient, gateway: FakeGateway) -> None:
    times = {"deleted_at": None, **DEFAULT_POLICY_FIELDS}
    assert client.simulate_get("/api/v1/spaces").json == {
        "spaces": [
            {"id": "alpha", "dim": 384, "created_at": "2025-10-21T18:29:18.500000Z", "state": "active", **times},
            {"id": "zeta", "dim": 768, "created_at": "2024-01-04T08:15:00Z", "state": "active", **times},
        ]
    }
    assert gateway.last == (protocol.ListSpaces(include_deleted=False), None)
    client.simulate_get("/api/v1/spaces", params={"include_deleted": "true"})
    assert gateway.last == (protocol.ListSpaces(include_deleted=True), None)


def test_create_space_is_201_when_created_and_sends_dim_for_that_space(
    client: testing.TestClient, gateway: FakeGateway
) -> None:
    result = client.simulate_post("/api/v1/spaces", json={"id": " alpha ", "dim": 384})
    assert result.status_code == 201
    assert result.json == {
        "id": "alpha",
        "dim": 384,
        "created_at": "2024-01-04T08:15:00Z",
        "state": "active",
        "deleted_at": None,
        **DEFAULT_POLICY_FIELDS,
    }
    assert gateway.last == (protocol.CreateSpace(dim=384), "alpha")


def test_create_space_sends_the_policy_fields_it_was_given_and_only_those(
    client: testing.TestClient, gateway: FakeGateway
) -> None:
    body = {"id": "alpha", "durability": "interval", "max_memories": 10, "max_rps": None}
    assert client.simulate_post("/api/v1/spaces", json=body).status_code == 201
    patch = protocol.SpacePolicyPatch(durability="interval", max_memories=10, max_rps=None)
    assert gateway.last == (protocol.CreateSpace(dim=None, policy=patch), "alpha")
    error_of(client.simulate_post("/api/v1/spaces", json={"id": "alpha", "max_rps": 0}), 400, ErrorCode.BAD_REQUEST)


def test_patch_space_sends_a_merge_patch_and_answers_the_space(client: testing.TestClient, gateway: FakeGateway):
    policy = protocol.SpacePolicy(durability="none", max_bytes=4096)
    gateway.results["update_space"] = protocol.SpaceSummary("alpha", 384, OBSERVED_AT, policy=policy)
    result = client.simulate_patch("/api/v1/spaces/alpha", json={"durability": "none", "max_rps": None})
    assert result.status_code == 200
    assert (result.json["durability"], result.json["max_bytes"]) == ("none", 4096)
    assert gateway.last == (protocol.UpdateSpace(protocol.SpacePolicyPatch(durability="none", max_rps=None)), "alpha")
    misspelt = client.simulate_patch("/api/v1/spaces/alpha", json={"max_memory": 3})
    assert "max_memory" in error_of(misspelt, 400, ErrorCode.BAD_REQUEST)["message"]


def test_delete_space_answers_that_it_is_deleted(client: testing.TestClient, gateway: FakeGateway) -> None:
    gateway.results["delete_space"] = protocol.SpaceDeleted("alpha")
    result = client.simulate_delete("/api/v1/spaces/alpha")
    assert result.status_code == 200
    assert result.json == {"id": "alpha", "state": "deleted", "deleted": True}
    assert gateway.last == (protocol.DeleteSpace(), "alpha")


def test_create_space_is_200_when_it_already_existed(client: testing.TestClient, gateway: FakeGateway) -> None:
    gateway.results["create_space"] = protocol.SpaceCreated(False, protocol.SpaceSummary("alpha", 768, OBSERVED_AT))
    assert client.simulate_post("/api/v1/spaces", json={"id": "alpha"}).status_code == 200
    assert gateway.last == (protocol.CreateSpace(dim=None), "alpha")


def test_create_space_with_an_invalid_id_never_reaches_the_router(
    client: testing.TestClient, gateway: FakeGateway
) -> None:
    error = error_of(client.simulate_post("/api/v1/spaces", json={"id": "No!"}), 400, ErrorCode.INVALID_MEMORY_SPACE_ID)
    assert "request body" in error["message"]
    assert gateway.calls == []


def test_create_space_with_a_non_positive_dim_is_400(client: testing.TestClient) -> None:
    error = error_of(client.simulate_post("/api/v1/spaces", json={"id": "alpha", "dim": 0}), 400, ErrorCode.BAD_REQUEST)
    assert "$.dim" in error["message"]


def test_get_space_reports_its_worker(client: testing.TestClient, gateway: FakeGateway) -> None:
    assert client.simulate_get("/api/v1/spaces/alpha").json == {
        "id": "alpha",
        "dim": 384,
        "created_at": "2024-01-04T08:15:00Z",
        "memories": 12,
        "worker": {"id": 1, "pid": 4243},
        "index": {"segments": 2, "buffer": 5},
        "state": "active",
        "stored_bytes": 0,
        **DEFAULT_POLICY_FIELDS,
    }
    assert gateway.last == (protocol.GetSpace(), "alpha")


def test_get_unknown_space_passes_the_routers_404_through(client: testing.TestClient, gateway: FakeGateway) -> None:
    gateway.fail["get_space"] = EngramError(ErrorCode.MEMORY_SPACE_NOT_FOUND, "Memory space 'ghost' not found.")
    error_of(client.simulate_get("/api/v1/spaces/ghost"), 404, ErrorCode.MEMORY_SPACE_NOT_FOUND)


# --- remember ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/memories/remember", "/api/v1/memories"])
def test_remember_answers_the_original_shape(client: testing.TestClient, gateway: FakeGateway, path: str) -> None:
    body = {"content": "The mitochondria is the powerhouse of the cell", "confidence": 0.855}
    result = client.simulate_post(path, json=body, headers={"x-memory-space": "research"})
    assert result.status_code == 201
    assert set(result.json) >= REMEMBER_FIELDS
    assert result.json == {
        "memory_id": "mem_9579a7d2",
        "storage_confidence": {
            "value": 0.85499,
            "category": "High",
            "reasoning": "Default confidence for user-provided memory",
        },
        "consolidation_state": "Recent",
        "observed_at": "2024-01-04T08:15:00Z",
        "stored_at": "2025-10-21T18:29:18.500000Z",
        "links": {"consolidation": "/api/v1/consolidations"},
        "auto_links": [],
        "system_message": "Memory 'mem_9579a7d2' successfully encoded with 0.85 activation.",
        "memory_space_id": "research",
        "replaced": False,
    }
    request, space = gateway.last
    assert space == "research"
    assert request == protocol.Remember([protocol.MemoryIn(body["content"], confidence=0.855)])


def test_remember_sends_embedding_as_float32_bytes_and_timestamp_as_epoch(
    client: testing.TestClient, gateway: FakeGateway
) -> None:
    body = {
        "id": "mem_custom",
        "content": "hello",
        "embedding": [0.25, -1, 3.5],
        "timestamp": "2024-01-04T09:15:00+01:00",
        "memory_space_id": "alpha",
        "confidence_reasoning": "told by a friend",
        "tags": ["x"],
        "memory_type": "semantic",
        "auto_link": True,
        "link_threshold": 0.8,
    }
    result = client.simulate_post("/api/v1/memories/remember", json=body)
    assert result.status_code == 201
    assert result.json["storage_confidence"]["reasoning"] == "told by a friend"
    (memory,) = gateway.last[0].memories  # type: ignore[attr-defined]
    assert gateway.last[1] == "alpha"
    assert (memory.id, memory.observed_at) == ("mem_custom", OBSERVED_AT)
    assert np.frombuffer(memory.embedding, dtype="<f4").tolist() == [0.25, -1.0, 3.5]


def test_remember_path_style_uses_the_path_space(client: testing.TestClient, gateway: FakeGateway) -> None:
    result = client.simulate_post("/api/v1/spaces/alpha/memories", json={"content": "x", "memory_space_id": "alpha"})
    assert result.status_code == 201
    assert result.json["memory_space_id"] == "alpha"
    assert gateway.last[1] == "alpha"


def test_remember_path_style_conflicting_header_is_400_and_never_reaches_the_router(
    client: testing.TestClient, gateway: FakeGateway
) -> None:
    result = client.simulate_post(
        "/api/v1/spaces/alpha/memories", json={"content": "x"}, headers={"X-Memory-Space": "beta"}
    )
    error = error_of(result, 400, ErrorCode.MEMORY_SPACE_CONFLICT)
    assert "'alpha'" in error["message"] and "'beta'" in error["message"]
    assert gateway.calls == []


def test_remember_header_and_body_disagreeing_is_a_conflict(client: testing.TestClient) -> None:
    result = client.simulate_post(
        "/api/v1/memories/remember",
        json={"content": "x", "memory_space_id": "beta"},
        headers={"X-Memory-Space": "alpha"},
    )
    error_of(result, 400, ErrorCode.MEMORY_SPACE_CONFLICT)


def test_remember_without_space_when_explicit_spaces_are_required_is_400(gateway: FakeGateway) -> None:
    client = testing.TestClient(create_app(Config(require_explicit_space=True), gateway))
    error = error_of(
        client.simulate_post("/api/v1/memories", json={"content": "x"}), 400, ErrorCode.MISSING_MEMORY_SPACE
    )
    assert error["message"] == "Missing memory_space_id. Set --space or X-Memory-Space header."
    assert gateway.calls == []


def test_remember_without_space_uses_the_configured_default(gateway: FakeGateway) -> None:
    client = testing.TestClient(create_app(Config(default_space="fallback"), gateway))
    assert client.simulate_post("/api/v1/memories", json={"content": "x"}).json["memory_space_id"] == "fallback"
    assert gateway.last[1] == "fallback"


def test_remember_wrong_type_is_400_with_msgspec_path(client: testing.TestClient) -> None:
    error = error_of(client.simulate_post("/api/v1/memories", json={"content": 5}), 400, ErrorCode.BAD_REQUEST)
    assert "Expected `str`, got `int` - at `$.content`" in error["message"]


@pytest.mark.parametrize("raw", ["{", "", "[1, 2]", "{}"])
def test_remember_malformed_or_incomplete_json_is_400_bad_request(client: testing.TestClient, raw: str) -> None:
    result = client.simulate_post("/api/v1/memories", body=raw, headers={"Content-Type": "application/json"})
    error_of(result, 400, ErrorCode.BAD_REQUEST)


@pytest.mark.parametrize(
    "body",
    [
        {"content": "   "},
        {"content": "x", "timestamp": "yesterday"},
        {"content": "x", "timestamp": "2024-01-04T08:15:00"},
        {"content": "x", "timestamp": "9999-12-31T23:59:59-23:59"},
        {"content": "x", "embedding": []},
        {"content": "x", "embedding": [1e39]},
        {"content": "x", "id": "  "},
        {"content": "x", "confidence": 1.2},
        {"content": "x", "confidence": -0.1},
    ],
    ids=[
        "blank-content",
        "bad-timestamp",
        "naive-timestamp",
        "timestamp-beyond-year-9999",
        "empty-embedding",
        "float32-overflow",
        "blank-id",
        "confidence-above-one",
        "confidence-below-zero",
    ],
)
def test_remember_invalid_values_are_400_invalid_memory_input(
    client: testing.TestClient, gateway: FakeGateway, body: dict[str, Any]
) -> None:
    error_of(client.simulate_post("/api/v1/memories", json=body), 400, ErrorCode.INVALID_MEMORY_INPUT)
    assert gateway.calls == []


def test_remember_body_over_one_mebibyte_is_413(client: testing.TestClient) -> None:
    raw = json.dumps({"content": "x" * MAX_BODY_BYTES})
    result = client.simulate_post("/api/v1/memories", body=raw, headers={"Content-Type": "application/json"})
    error_of(result, 413, ErrorCode.PAYLOAD_TOO_LARGE)


def test_remember_non_json_content_type_is_415(client: testing.TestClient) -> None:
    result = client.simulate_post("/api/v1/memories", body="content=x", headers={"Content-Type": "text/plain"})
    error_of(result, 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE)


def test_remember_accepts_json_with_a_charset(client: testing.TestClient) -> None:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    assert client.simulate_post("/api/v1/memories", body='{"content": "x"}', headers=headers).status_code == 201
