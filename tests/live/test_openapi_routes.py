"""Every operation of the live /openapi.json answers a valid request, and answers as the document says.

The request for each operation is built from the document alone: path parameters from their examples (the space
replaced by a fresh one, seeded so the example memory ids and a consolidated pattern exist in it), query parameters
and bodies from their examples, the space header on the Engram-compatible routes. The answer must be a documented
2xx whose body validates against the documented schema.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from engram.api.openapi import document
from engram.api.routes import EXAMPLE_MEMORY_ID, EXAMPLE_OTHER_MEMORY_ID, EXAMPLE_SPACE, OPERATIONS
from engram.api.spaces_resolution import SPACE_HEADER
from engram.archive import ARCHIVE_CONTENT_TYPE
from tests.conftest import Api
from tests.live.openapi_checks import assert_envelope, assert_matches_document, documented_codes, live_spec, operations

EVENT_STREAM = "text/event-stream"


@pytest.fixture(scope="module")
def spec(server) -> dict[str, Any]:
    return live_spec(server.url)


def test_the_live_document_is_the_generated_one_and_lists_every_route(spec):
    assert spec == document()
    assert {(path, method) for path, method, _ in operations(spec)} == {op.key for op in OPERATIONS}


def _seed(api: Api, space: str) -> dict[str, str]:
    """A space holding the documented example memories and one consolidated pattern; returns path values."""
    assert api.post("/api/v1/spaces", json={"id": space, "dim": 4}).status_code == 201
    for memory_id, content in (
        (EXAMPLE_MEMORY_ID, "The mitochondria is the powerhouse of the cell"),
        (EXAMPLE_OTHER_MEMORY_ID, "Cells turn glucose into energy"),
    ):
        assert api.remember(space, content, id=memory_id, tags=["biology"]).status_code == 201
    for n, embedding in enumerate(([1.0, 0.05, 0, 0], [1.0, 0, 0.05, 0], [1.0, 0.05, 0.05, 0]), start=1):
        body = {"id": f"e{n}", "what": f"walked the dog in the park, day {n}", "when": f"2026-01-0{n}T09:00:00Z"}
        response = api.post(f"/api/v1/spaces/{space}/episodes", json={**body, "embedding": embedding})
        assert response.status_code == 201, response.text
    beliefs = api.post(f"/api/v1/spaces/{space}/consolidate").json()["beliefs"]
    assert len(beliefs) == 1
    return {"space": space, "memory_id": EXAMPLE_MEMORY_ID, "pattern_id": beliefs[0]["id"]}


def _substitute(value: Any, replacements: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: _substitute(item, replacements) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, replacements) for item in value]
    return replacements.get(value, value) if isinstance(value, str) else value


def _valid_request(
    op: dict[str, Any], path: str, values: dict[str, str], new_space: str, archive: bytes = b""
) -> dict[str, Any]:
    """URL path, query, headers and body of a valid request to ``op``, from the document's examples."""
    examples = {p["name"]: p.get("example") for p in op.get("parameters", []) if p["in"] == "path"}
    url = re.sub(r"{(\w+)}", lambda match: values.get(match.group(1), examples[match.group(1)]), path)
    params, headers = {}, {}
    for param in op.get("parameters", []):
        if param["in"] == "query" and "example" in param:
            params[param["name"]] = str(param["example"])
        elif param["in"] == "header" and param["name"] == SPACE_HEADER and "{space}" not in path:
            headers[SPACE_HEADER] = values["space"]
    request: dict[str, Any] = {"path": url, "params": params, "headers": headers}
    for media_type, body in op.get("requestBody", {}).get("content", {}).items():
        if media_type == ARCHIVE_CONTENT_TYPE:  # an import: an export of the seeded space, restored as a new one
            if archive:  # (without one, the request is about the path's space, e.g. an invalid id)
                request["path"] = url.replace(f"/{values['space']}/", f"/{new_space}/")
            request["data"], headers["Content-Type"] = archive, media_type
            continue
        assert media_type == "application/json", f"teach _valid_request to make a {media_type} body"
        # A body that names a space (create) names a new one, never the shared server's example space.
        request["json"] = _substitute(body["example"], {EXAMPLE_SPACE: new_space})
    return request


def _streams(op: dict[str, Any]) -> bool:
    return any(EVENT_STREAM in answer.get("content", {}) for answer in op["responses"].values())


@pytest.mark.parametrize(("path", "method"), [op.key for op in OPERATIONS], ids=[" ".join(op.key) for op in OPERATIONS])
def test_every_operation_answers_a_valid_request_as_documented(api, spec, unique, path, method):
    op = spec["paths"][path][method.lower()]
    values = _seed(api, unique)
    archive = api.get(f"/api/v1/spaces/{unique}/export").content if path.endswith("/import") else b""
    request = _valid_request(op, path, values, new_space=f"{unique}-new", archive=archive)
    response = api.request(method, request.pop("path"), stream=_streams(op), **request)
    try:
        assert 200 <= response.status_code < 300, response.text
        if _streams(op):
            assert response.headers["content-type"].startswith(EVENT_STREAM)
        else:
            assert_matches_document(spec, op, response)
    finally:
        response.close()


SPACED = [op.key for op in OPERATIONS if "{space}" in op.path or op.space == "request"]


@pytest.mark.parametrize(("path", "method"), SPACED, ids=[" ".join(key) for key in SPACED])
def test_every_operation_with_a_space_rejects_an_invalid_one_as_documented(api, spec, path, method):
    op = spec["paths"][path][method.lower()]
    values = {"space": "Not A Space!", "memory_id": EXAMPLE_MEMORY_ID, "pattern_id": "pat_x"}
    request = _valid_request(op, path, values, new_space="also-fine")
    response = api.request(method, request.pop("path"), **request)
    assert response.status_code == 400, response.text
    assert assert_envelope(response) == "INVALID_MEMORY_SPACE_ID"
    assert "INVALID_MEMORY_SPACE_ID" in documented_codes(op, 400)
    assert_matches_document(spec, op, response)
