"""Checking a live answer against the server's own /openapi.json: its status is documented, its body matches."""

from __future__ import annotations

from typing import Any

import jsonschema
import requests

from engram.errors import HTTP_STATUS, ErrorCode

METHODS = ("get", "put", "post", "delete", "patch")


class Spec(dict):
    """The live document; its repr stays short, so a failing hypothesis example shows the request, not 130 kB."""

    def __repr__(self) -> str:
        return "<the server's /openapi.json>"


def live_spec(base_url: str) -> Spec:
    response = requests.get(base_url + "/openapi.json", timeout=30)
    assert response.status_code == 200, response.text
    return Spec(response.json())


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """``(path, METHOD, operation)`` for every operation of the document."""
    return [
        (path, method.upper(), op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def documented_codes(op: dict[str, Any], status: int) -> set[str]:
    """The error codes ``op`` documents for ``status`` (empty when it documents none there)."""
    response = op["responses"].get(str(status))
    if response is None:
        return set()
    schema = response["content"]["application/json"]["schema"]
    if "allOf" not in schema:
        return set()
    return set(schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"])


def assert_envelope(response: requests.Response) -> str:
    """An error answer is exactly the envelope, and its code's status is the answer's status; returns the code."""
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "hint"}, body
    assert isinstance(error["message"], str) and error["message"] and isinstance(error["hint"], str), body
    code = ErrorCode(error["code"])
    assert HTTP_STATUS[code] == response.status_code, body
    if response.status_code in (429, 503):
        assert int(response.headers["Retry-After"]) >= 1
    return code.value


def assert_matches_document(spec: dict[str, Any], op: dict[str, Any], response: requests.Response) -> None:
    """The answer's status is one ``op`` documents, and its JSON body validates against that status's schema."""
    documented = op["responses"].get(str(response.status_code))
    assert documented is not None, (
        f"status {response.status_code} is not documented (documented: {sorted(op['responses'])}): {response.text}"
    )
    media_type = response.headers.get("content-type", "").split(";")[0]
    content = documented.get("content", {})
    assert media_type in content, f"answered {media_type}, documented {sorted(content)}"
    if media_type == "application/json":
        schema = {**content[media_type]["schema"], "components": spec["components"]}
        jsonschema.Draft202012Validator(schema).validate(response.json())
