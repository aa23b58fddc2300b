"""Space resolution through the live server, rule by rule: header > query > body > default on the compatible routes,
the path on path-style routes, every disagreement a 400, and ``require_explicit_space`` turning a missing space into
400 MISSING_MEMORY_SPACE."""

from __future__ import annotations

import re

import pytest

from engram.testing import wait_until
from tests.conftest import Api

REMEMBER = "/api/v1/memories/remember"


def _stored_in(api: Api, space: str) -> set[str]:
    return {m["id"] for m in api.list(space, limit=100)["memories"]}


def _remember(api: Api, memory_id: str, *, header=None, query=None, body=None, path=None):
    fields = {"content": f"resolution probe {memory_id}", "id": memory_id}
    if body is not None:
        fields["memory_space_id"] = body
    headers = {"X-Memory-Space": header} if header is not None else {}
    params = {"space": query} if query is not None else {}
    url = f"/api/v1/spaces/{path}/memories" if path is not None else REMEMBER
    return api.post(url, json=fields, headers=headers, params=params)


@pytest.mark.parametrize("source", ["header", "query", "body"])
def test_each_source_alone_reaches_its_space_and_no_other(api, unique, source):
    target, other = f"{unique}-target", f"{unique}-other"
    assert _remember(api, "m1", **{source: target}).status_code == 201
    assert _remember(api, "m2", **{source: other}).status_code == 201
    assert _stored_in(api, target) == {"m1"}
    assert _stored_in(api, other) == {"m2"}


@pytest.mark.parametrize(
    "sources",
    [{"header": "a", "query": "b"}, {"header": "a", "body": "b"}, {"query": "a", "body": "b"}],
    ids=["header-query", "header-body", "query-body"],
)
def test_two_sources_that_disagree_are_a_400_and_store_nothing(api, unique, sources):
    named = {key: f"{unique}-{value}" for key, value in sources.items()}
    response = _remember(api, "clash", **named)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "MEMORY_SPACE_CONFLICT"
    assert all(space in error["message"] for space in named.values())
    for space in named.values():
        assert api.get(f"/api/v1/spaces/{space}").status_code == 404


def test_sources_that_agree_are_accepted(api, unique):
    space = f"{unique}-same"
    assert _remember(api, "agree", header=space, query=space, body=space).status_code == 201
    assert _stored_in(api, space) == {"agree"}


def test_the_path_names_the_space_and_another_source_must_agree(api, unique):
    space = f"{unique}-path"
    assert _remember(api, "p1", path=space, header=space).status_code == 201
    conflict = _remember(api, "p2", path=space, header=f"{unique}-elsewhere")
    assert conflict.status_code == 400 and conflict.json()["error"]["code"] == "MEMORY_SPACE_CONFLICT"
    assert _stored_in(api, space) == {"p1"}


def test_no_source_falls_back_to_the_default_space(api, unique):
    memory_id = f"{unique}-fallback"
    assert _remember(api, memory_id).status_code == 201
    assert memory_id in _stored_in(api, "default")


def test_an_invalid_space_in_any_source_is_a_400_naming_that_source(api):
    for source, label in (("header", "X-Memory-Space header"), ("query", "query parameter"), ("body", "request body")):
        response = _remember(api, "bad", **{source: "Not A Space!"})
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "INVALID_MEMORY_SPACE_ID" and label in error["message"]


def test_a_server_requiring_explicit_spaces_refuses_a_request_without_one(make_server):
    running = make_server(workers=1, extra_args=["--require-explicit-space"])
    api = Api(running.url)
    response = _remember(api, "nowhere")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "MISSING_MEMORY_SPACE"
    assert error["message"] == "Missing memory_space_id. Set --space or X-Memory-Space header."
    assert api.get("/api/v1/spaces/default").status_code == 404
    assert _remember(api, "somewhere", header="explicit").status_code == 201
    assert _stored_in(api, "explicit") == {"somewhere"}


def test_the_fallback_warning_is_logged_in_the_servers_log_format(make_server):
    running = make_server(workers=1)
    assert _remember(Api(running.url), "unnamed").status_code == 201
    pattern = re.compile(r" api\[\d+\] WARNING engram\.api\.spaces_resolution: A request named no memory space")
    wait_until(lambda: any(pattern.search(line) for line in running.output), message="the formatted warning")
