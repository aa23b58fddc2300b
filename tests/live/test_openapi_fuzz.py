"""Requests generated from the live /openapi.json never get a 5xx, and every answer is one the document describes.

Hypothesis picks an operation of the document and builds a request from its parameters and body schema: path
parameters from the space-id pattern, a few known names and random strings; query parameters from their schemas or
random text; a body from its schema, or any JSON, or bytes that are not JSON, or JSON sent as text/plain. The server
must answer below 500, with an answer the operation documents (error replies in the envelope, with a code it lists
for that status), except that a path a random string makes unroutable may answer 404 ROUTE_NOT_FOUND or 405.

Spaces come mostly from a pool of this test's own and always in the header, query or path, so fuzzed writes never
land in the shared server's default space; now and then a fresh id from the pattern creates a space (bounded by the
example count).
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engram.api.openapi import document
from engram.api.routes import EXAMPLE_MEMORY_ID, EXAMPLE_OTHER_MEMORY_ID, EXAMPLE_SPACE, SPACE_ID_PATTERN
from engram.api.spaces_resolution import SPACE_HEADER, SPACE_QUERY_PARAM
from tests.conftest import Api
from tests.live.openapi_checks import assert_envelope, assert_matches_document, documented_codes, live_spec, operations

MAX_EXAMPLES = int(os.environ.get("ENGRAM_FUZZ_EXAMPLES", "150"))
"""Kept small so the suite stays fast; set ENGRAM_FUZZ_EXAMPLES (e.g. 5000) for a deeper run."""
ROUTING_CODES = {"ROUTE_NOT_FOUND", "METHOD_NOT_ALLOWED"}
LITERAL_SEGMENTS = {"recall", "remember", "search"}  # siblings of {memory_id}: a value equal to one is another route
MAX_TEXT = 40
INT_EDGES = (-1, 2**31, -(2**63) - 1, 2**63, 2**64)
"""Integers at the edges of the machine types a value may travel in (msgpack int64/uint64)."""
MAX_ITEMS = 6

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=MAX_TEXT)
)
ANY_JSON = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
HEADER_TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=70)
RFC3339 = st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat().replace("+00:00", "Z"))


@pytest.fixture(scope="module")
def spec(server) -> dict[str, Any]:
    return live_spec(server.url)


@pytest.fixture
def pool(api: Api, unique: str) -> list[str]:
    """This test's own spaces: the first holds the documented example memory, the last is the one requests to
    delete or re-configure a space address."""
    spaces = [f"{unique}-a", f"{unique}-b", f"{unique}-c"]
    for memory_id in (EXAMPLE_MEMORY_ID, EXAMPLE_OTHER_MEMORY_ID):
        assert api.remember(spaces[0], f"The mitochondria is the powerhouse of the cell ({memory_id})", id=memory_id).ok
    assert api.post("/api/v1/spaces", json={"id": spaces[-1]}).status_code == 201
    return spaces


def from_schema(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid for the subset of JSON Schema msgspec emits (refs, anyOf, enums, bounds, objects, arrays)."""
    if "$ref" in schema:
        return from_schema(components["schemas"][schema["$ref"].rsplit("/", 1)[1]], components)
    if "anyOf" in schema:
        return st.one_of([from_schema(option, components) for option in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        if "minimum" not in schema and "maximum" not in schema:
            return weighted((3, st.integers(0, 10)), (1, st.integers()), (1, st.sampled_from(INT_EDGES)))
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        if low is None and high is None:
            return weighted((3, st.floats(0, 1)), (1, st.floats(allow_nan=False, allow_infinity=False)))
        return st.floats(
            low,
            high,
            exclude_min="exclusiveMinimum" in schema,
            exclude_max="exclusiveMaximum" in schema,
            allow_nan=False,
            allow_infinity=False,
        )
    if kind == "string":
        if schema.get("contentMediaType") == "application/json" and "contentSchema" in schema:
            return from_schema(schema["contentSchema"], components).map(json.dumps)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        if schema.get("format") == "date-time":
            return weighted((3, RFC3339), (1, st.text(max_size=MAX_TEXT)))
        low = schema.get("minLength", 0)
        return st.text(min_size=low, max_size=max(low, min(schema.get("maxLength", MAX_TEXT), MAX_TEXT)))
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {}), components), max_size=MAX_ITEMS)
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        values = {name: from_schema(sub, components) for name, sub in properties.items()}
        if properties:
            return st.fixed_dictionaries(
                {name: values[name] for name in properties if name in required},
                optional={name: values[name] for name in properties if name not in required},
            )
        extra = schema.get("additionalProperties", {})
        return st.dictionaries(st.text(max_size=10), from_schema(extra if isinstance(extra, dict) else {}, components))
    return ANY_JSON


def _query_value(value: Any) -> str | list[str]:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return [_query_value(item) for item in value]  # type: ignore[misc]
    return str(value)


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of ``choices``, each drawn in proportion to its weight (``|`` would weigh them alike)."""
    slots = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.integers(0, len(slots) - 1).flatmap(lambda n: slots[n])


def _spaces(pool: list[str]) -> st.SearchStrategy[str]:
    """Mostly the pool; sometimes a fresh valid id from the pattern, or a random string."""
    return weighted((14, st.sampled_from(pool)), (1, st.from_regex(SPACE_ID_PATTERN, fullmatch=True)), (2, HEADER_TEXT))


def _path_value(name: str, pool: list[str], changes_the_space: bool) -> st.SearchStrategy[str]:
    if name == "space":
        # Deleting or re-configuring a space goes to the pool's last one, so the others keep serving the rest.
        spaces = st.just(pool[-1]) if changes_the_space else _spaces(pool[:-1])
        return weighted((9, spaces), (1, st.text(min_size=1, max_size=MAX_TEXT)))
    known = st.just(EXAMPLE_MEMORY_ID) if name == "memory_id" else st.just("pat_0123456789abcdef")
    junk = st.text(min_size=1, max_size=MAX_TEXT).filter(lambda value: value not in LITERAL_SEGMENTS)
    return weighted((2, known), (1, junk))


@st.composite
def _mutated_example(
    draw: st.DrawFn, body_spec: dict[str, Any], components: dict[str, Any], pool: list[str]
) -> dict[str, Any]:
    """The body's documented example with one field replaced by a value from its schema (or left as it is)."""
    example = {key: pool[-1] if value == EXAMPLE_SPACE else value for key, value in body_spec["example"].items()}
    schema = components["schemas"][body_spec["schema"]["$ref"].rsplit("/", 1)[1]]
    fields = sorted(schema["properties"])
    name = draw(st.sampled_from(fields) | st.none())
    if name is not None:
        example[name] = draw(from_schema(schema["properties"][name], components))
    return example


@st.composite
def requests_for(draw: st.DrawFn, spec: dict[str, Any], pool: list[str]) -> dict[str, Any]:
    """One request to an operation of ``spec``: method, URL path, query, headers and body."""
    path, method, op = draw(st.sampled_from(operations(spec)))
    components = spec["components"]
    changes_the_space = method != "GET" and path.endswith("/{space}")
    url = re.sub(r"{(\w+)}", lambda m: quote(draw(_path_value(m.group(1), pool, changes_the_space)), safe=""), path)
    params: dict[str, Any] = {}
    headers: dict[str, str] = {}
    documented = {(param["in"], param["name"]) for param in op.get("parameters", [])}
    if ("header", SPACE_HEADER) in documented:
        # A compatible route always names its space somewhere, so nothing is written to the default space.
        if "{space}" in path:
            sources = draw(st.sampled_from([(), (), ("header",), ("query",)]))
        else:
            sources = draw(st.sampled_from([("header",), ("query",), ("header", "query")]))
        if "header" in sources:
            headers[SPACE_HEADER] = draw(_spaces(pool[:-1]))
        if "query" in sources:
            params[SPACE_QUERY_PARAM] = draw(weighted((9, _spaces(pool[:-1])), (1, st.text(max_size=MAX_TEXT))))
    queries = [p for p in op.get("parameters", []) if p["in"] == "query" and p["name"] != SPACE_QUERY_PARAM]
    if draw(st.booleans()):  # the documented example, so most of the request is valid and reaches the worker
        params.update({p["name"]: _query_value(p["example"]) for p in queries if "example" in p})
    for param in queries:
        if param.get("required") or draw(st.integers(0, 3)) == 0:
            schema_value = from_schema(param["schema"], components).map(_query_value)
            params[param["name"]] = draw(weighted((4, schema_value), (1, st.text(max_size=MAX_TEXT))))
    request: dict[str, Any] = {"method": method, "path": url, "params": params, "headers": headers}
    content = op.get("requestBody", {}).get("content", {})
    body_spec = content.get("application/json")
    for media_type in content.keys() - {"application/json"}:  # e.g. an archive: random bytes of that type
        request["data"] = draw(st.binary(max_size=256))
        headers["Content-Type"] = media_type
    if body_spec is not None:
        kind = draw(st.sampled_from(["example", "example", "schema", "schema", "json", "bytes", "text/plain"]))
        if kind == "example":
            request["data"] = json.dumps(draw(_mutated_example(body_spec, components, pool)))
        elif kind == "schema":
            request["data"] = json.dumps(draw(from_schema(body_spec["schema"], components)))
        elif kind == "bytes":
            request["data"] = draw(st.binary(max_size=64))
        else:
            request["data"] = json.dumps(draw(ANY_JSON))
        headers["Content-Type"] = "text/plain" if kind == "text/plain" else "application/json"
    request["op"] = op
    return request


def _describe(request: dict[str, Any]) -> str:
    shown = {key: value for key, value in request.items() if key != "op"}
    return json.dumps(shown, default=repr)


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_requests_generated_from_the_document_never_get_a_5xx(api, spec, pool, data):
    request = data.draw(requests_for(spec, pool))
    op = request.pop("op")
    response = api.request(
        request["method"],
        request["path"],
        params=request["params"],
        headers=request["headers"],
        data=request.get("data"),
        stream=True,  # an SSE route's 200 never ends: its body is not read (tests/live/test_events.py reads it)
    )
    if response.ok and response.headers.get("content-type", "").startswith("text/event-stream"):
        response.close()
        return
    described = f"{response.status_code} {response.text[:300]} for {_describe(request)}"
    assert response.status_code < 500, described
    if response.status_code >= 400:
        code = assert_envelope(response)
        if code in ROUTING_CODES:
            return
        assert code in documented_codes(op, response.status_code), f"undocumented code: {described}"
    assert_matches_document(spec, op, response)


_DOCUMENT = document()
_BODIES = [
    (path, method, op)
    for path, method, op in operations(_DOCUMENT)
    if "application/json" in op.get("requestBody", {}).get("content", {})
]


@pytest.mark.parametrize(("path", "method", "op"), _BODIES, ids=[f"{m} {p}" for p, m, _ in _BODIES])
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_the_generator_makes_valid_bodies_for_every_body_schema(path, method, op, data):
    """The fuzz test's strategies stay honest: what ``from_schema`` makes for a body validates against its schema."""
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    value = data.draw(from_schema(schema, _DOCUMENT["components"]))
    jsonschema.Draft202012Validator({**schema, "components": _DOCUMENT["components"]}).validate(value)
    json.dumps(value, allow_nan=False)
