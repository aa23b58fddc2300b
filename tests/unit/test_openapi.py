"""The OpenAPI document: valid 3.1, complete against the routes the app registers, and honest about its errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import falcon.inspect
import jsonschema
import msgspec
import pytest
from falcon import testing
from hypothesis import given
from hypothesis import strategies as st
from openapi_spec_validator import validate as validate_openapi

from engram.api.app import create_app
from engram.api.filters import FILTER_PARAMS
from engram.api.openapi import (
    CODE_MEANINGS,
    RETRY_AFTER_STATUSES,
    document,
    error_table_markdown,
    operation_id,
    path_param_names,
    refs_in,
    routes_markdown,
)
from engram.api.routes import FILTER_QUERY, OPERATIONS, PATH_PARAMS, SPACE_ID_PATTERN, SpaceFrom
from engram.api.spaces_resolution import SPACE_HEADER, SPACE_QUERY_PARAM
from engram.config import Config
from engram.errors import HTTP_STATUS, ErrorCode
from engram.ids import is_valid_space_id
from tests.unit.api_fakes import FakeGateway

DOCS_PAGE = Path(__file__).parents[2] / "docs" / "api.md"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return document()


def _operations(doc: dict[str, Any]):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def _registered_routes() -> set[tuple[str, str]]:
    app = create_app(Config(), FakeGateway())
    return {
        (route.path, method.method)
        for route in falcon.inspect.inspect_app(app).routes
        for method in route.methods
        if not method.internal
    }


def test_every_registered_route_has_an_operation_and_every_operation_a_route():
    registered = _registered_routes()
    described = {op.key for op in OPERATIONS}
    undescribed = sorted(f"{method} {path}" for path, method in registered - described)
    unrouted = sorted(f"{method} {path}" for path, method in described - registered)
    assert not undescribed, f"add an Operation to engram/api/routes.py for: {undescribed}"
    assert not unrouted, f"engram/api/routes.py describes routes create_app does not register: {unrouted}"
    assert len(described) == len(OPERATIONS), "an operation is listed twice"


def test_the_document_lists_exactly_the_operations_of_the_table(doc):
    listed = {(path, method.upper()) for path, method, _ in _operations(doc)}
    assert listed == {op.key for op in OPERATIONS}


def test_the_document_is_valid_openapi_3_1(doc):
    assert doc["openapi"].startswith("3.1.")
    validate_openapi(doc)


def test_every_ref_resolves(doc):
    refs = set(refs_in(doc))
    assert refs, "the document uses components"
    for ref in refs:
        assert ref.startswith("#/"), ref
        node: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
            node = node[part]


def test_every_component_schema_is_used(doc):
    used = {ref.rsplit("/", 1)[1] for ref in refs_in(doc) if ref.startswith("#/components/schemas/")}
    assert set(doc["components"]["schemas"]) == used


def test_operation_ids_are_unique_and_every_operation_has_a_tag_and_summary(doc):
    ids = [op["operationId"] for _, _, op in _operations(doc)]
    assert len(ids) == len(set(ids))
    tags = {tag["name"] for tag in doc["tags"]}
    for path, method, op in _operations(doc):
        assert op["summary"], (method, path)
        assert set(op["tags"]) <= tags, (method, path)


def test_path_parameters_are_exactly_the_template_names(doc):
    for path, method, op in _operations(doc):
        declared = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
        assert declared == path_param_names(path), (method, path)
        assert all(p["required"] for p in op.get("parameters", []) if p["in"] == "path")


def test_no_operation_declares_a_parameter_twice(doc):
    for path, method, op in _operations(doc):
        keys = [(p["in"], p["name"]) for p in op.get("parameters", [])]
        assert len(keys) == len(set(keys)), (method, path, keys)


def test_every_operation_has_a_success_answer_and_every_router_backed_one_its_errors(doc):
    for path, method, op in _operations(doc):
        statuses = {int(status) for status in op["responses"]}
        assert any(200 <= status < 300 for status in statuses), (method, path)
        if path not in ("/health", "/openapi.json", "/metrics"):
            assert {500, 503} <= statuses, (method, path)
        if "requestBody" in op:
            assert {400, 413, 415} <= statuses, (method, path)


def _error_codes(response: dict[str, Any]) -> list[str] | None:
    schema = response["content"]["application/json"]["schema"]
    if "allOf" not in schema:
        return None
    envelope, narrowing = schema["allOf"]
    assert envelope == {"$ref": "#/components/schemas/ErrorEnvelope"}
    return narrowing["properties"]["error"]["properties"]["code"]["enum"]


def test_error_answers_use_the_envelope_with_codes_of_their_status(doc):
    for path, method, op in _operations(doc):
        for status, response in op["responses"].items():
            if int(status) < 400 or path == "/health":
                continue
            codes = _error_codes(response)
            assert codes, (method, path, status)
            assert all(HTTP_STATUS[ErrorCode(code)] == int(status) for code in codes), (method, path, status)
            for code in codes:
                assert f"`{code}`" in response["description"]


def test_retryable_answers_carry_retry_after(doc):
    for path, method, op in _operations(doc):
        for status, response in op["responses"].items():
            if int(status) in RETRY_AFTER_STATUSES:
                assert "Retry-After" in response.get("headers", {}), (method, path, status)


def test_the_error_envelope_schema_is_the_error_handlers_struct(doc):
    schemas = doc["components"]["schemas"]
    assert schemas["ErrorEnvelope"]["required"] == ["error"]
    assert schemas["ErrorDetail"]["required"] == ["code", "message", "hint"]
    assert set(schemas["ErrorCode"]["enum"]) == {code.value for code in ErrorCode}


def test_every_error_code_is_explained():
    assert {code.value for code in ErrorCode} <= set(CODE_MEANINGS)


def test_both_address_styles_document_the_space_sources(doc):
    for op in OPERATIONS:
        params = {(p["in"], p["name"]) for p in doc["paths"][op.path][op.method.lower()].get("parameters", [])}
        sources = {("header", SPACE_HEADER), ("query", SPACE_QUERY_PARAM)}
        if op.space in (SpaceFrom.PATH, SpaceFrom.REQUEST):
            assert sources <= params, op.key
        elif op.space is SpaceFrom.FILTER:  # a filter, not an address: the query parameter only
            assert sources & params == {("query", SPACE_QUERY_PARAM)}, op.key
        else:
            assert not sources & params, op.key
        assert (("path", "space") in params) == (op.space in (SpaceFrom.PATH, SpaceFrom.PATH_ONLY)), op.key
        if op.space is SpaceFrom.REQUEST:
            errors = doc["paths"][op.path][op.method.lower()]["responses"]["400"]
            assert ErrorCode.MISSING_MEMORY_SPACE.value in _error_codes(errors)


def test_query_parameters_are_the_query_structs_fields(doc):
    for op in OPERATIONS:
        if op.query is None:
            continue
        params = {p["name"] for p in doc["paths"][op.path][op.method.lower()]["parameters"] if p["in"] == "query"}
        assert set(op.query.__struct_fields__) - set(op.query_skip) <= params, op.key


def test_filter_parameters_are_those_the_filter_parser_reads():
    assert {param.name for param in FILTER_QUERY} == set(FILTER_PARAMS)


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({**schema, "components": doc["components"]})


def test_every_body_example_decodes_into_the_handlers_struct_and_matches_its_schema(doc):
    with_bodies = [op for op in OPERATIONS if isinstance(op.body, type)]
    assert with_bodies
    for op in with_bodies:
        assert op.body_example is not None, f"{op.key}: give the body an example (the live tests send it)"
        msgspec.convert(dict(op.body_example), op.body)
        media = doc["paths"][op.path][op.method.lower()]["requestBody"]["content"]["application/json"]
        _validator(doc, media["schema"]).validate(media["example"])


def test_every_path_parameter_has_a_schema_and_a_matching_example():
    for op in OPERATIONS:
        for name in path_param_names(op.path):
            assert name in PATH_PARAMS, f"{op.key}: describe the path parameter '{name}' in routes.PATH_PARAMS"
    for param in PATH_PARAMS.values():
        jsonschema.Draft202012Validator(dict(param.schema)).validate(param.example)


@given(
    st.one_of(
        st.from_regex(SPACE_ID_PATTERN, fullmatch=True),
        st.text(alphabet="abcxyz019_-AZ .!/", max_size=70),
        st.text(max_size=70),
    )
)
def test_the_space_id_pattern_is_the_servers_id_rule(candidate):
    assert bool(re.fullmatch(SPACE_ID_PATTERN.strip("^$"), candidate)) == is_valid_space_id(candidate)


def test_operation_ids_name_method_and_path():
    ids = {operation_id(op) for op in OPERATIONS}
    assert {"post_spaces_space_memories", "post_memories_remember", "get_health"} <= ids


def test_the_route_serves_the_document_to_any_origin(doc):
    client = testing.TestClient(create_app(Config(), FakeGateway()))
    response = client.simulate_get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json == doc


def _between(text: str, marker: str) -> str:
    match = re.search(rf"<!-- {marker}:start -->\n(.*?)<!-- {marker}:end -->", text, re.S)
    assert match, f"docs/api.md lost its {marker} markers"
    return match.group(1)


def test_the_docs_page_lists_every_route_and_error_code():
    page = DOCS_PAGE.read_text()
    assert _between(page, "routes") == routes_markdown(), "run: python -m engram.api.openapi --routes"
    assert _between(page, "errors") == error_table_markdown()


def test_every_query_example_is_a_documented_parameter_matching_its_schema(doc):
    for op in OPERATIONS:
        params = {p["name"]: p for p in doc["paths"][op.path][op.method.lower()].get("parameters", [])}
        for name, value in op.query_example.items():
            assert name in params and params[name]["in"] == "query", (op.key, name)
            jsonschema.Draft202012Validator(params[name]["schema"]).validate(value)
