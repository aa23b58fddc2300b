"""``GET /openapi.json``: the OpenAPI 3.1 document of the REST API, rendered from the route table.

Schemas come from the same msgspec Structs the handlers decode and encode (``msgspec.json.schema_components``), the
operations from ``engram.api.routes.OPERATIONS``, and the error responses from ``engram.errors`` (each code at its
``HTTP_STATUS``), so none of it is written twice. The document is built once per process and served as bytes.

``python -m engram.api.openapi`` prints the document; ``--routes`` prints the route list of docs/api.md.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import falcon
import msgspec

from engram import __version__
from engram.api.errors import ErrorDetail, ErrorEnvelope
from engram.api.routes import (
    JSON,
    OPERATIONS,
    PATH_PARAMS,
    TAG_DESCRIPTIONS,
    Operation,
    QueryParam,
    SpaceFrom,
    Tag,
)
from engram.api.spaces_resolution import MISSING_SPACE_MESSAGE, SPACE_HEADER, SPACE_QUERY_PARAM
from engram.errors import HTTP_STATUS, ErrorCode

OPENAPI_VERSION = "3.1.0"
SCHEMAS = "#/components/schemas/"
RETRY_AFTER_STATUSES = (429, 503)
BODY_SPACE_FIELD = "memory_space_id"

CODE_MEANINGS: dict[str, str] = {
    "BAD_REQUEST": "the request could not be read (a malformed JSON body, a field of the wrong type)",
    "INVALID_MEMORY_INPUT": "a value breaks a rule (a range, a timestamp, an id, a query parameter)",
    "INVALID_MEMORY_SPACE_ID": "a space id is not 3-64 characters from [a-z0-9_-]",
    "MEMORY_SPACE_CONFLICT": "two sources (path, header, query, body) name different spaces",
    "MISSING_MEMORY_SPACE": "no space was named and the server requires explicit spaces",
    "MEMORY_NOT_FOUND": "no memory with this id in this space",
    "CONSOLIDATION_NOT_FOUND": "no consolidated pattern with this id in this space",
    "MEMORY_SPACE_NOT_FOUND": "the space does not exist",
    "ROUTE_NOT_FOUND": "no route matches the path",
    "METHOD_NOT_ALLOWED": "the route exists but not with this method",
    "DIMENSION_CONFLICT": "the space exists with another embedding dimension",
    "MEMORY_SPACE_DELETED": "the space was deleted (until it is created again)",
    "MEMORY_SPACE_EXISTS": "an import names a space that exists already",
    "PAYLOAD_TOO_LARGE": "the body exceeds the size limit",
    "UNSUPPORTED_MEDIA_TYPE": "the body is not sent as application/json",
    "UNSUPPORTED_PROTOCOL_VERSION": "a native-protocol message of another version",
    "SPACE_LIMIT_REACHED": "creating the space would exceed max_spaces",
    "QUOTA_EXCEEDED": "the space's quota is used up",
    "INVALID_ARCHIVE": "an import archive is malformed or inconsistent",
    "MEMORY_SYSTEM_ERROR": "a server bug; the server logged the details",
    "SERVICE_UNAVAILABLE": "the router or a worker is unreachable or restarting",
    "STORAGE_UNAVAILABLE": "the space's storage failed (e.g. an fsync); nothing was acknowledged",
}
"""One phrase per error code, for the document's error responses and docs/api.md."""

STATUS_REASONS: dict[int, str] = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable",
    429: "Too many requests: retry after `Retry-After` seconds",
    500: "Internal error",
    503: "Unavailable: retry after `Retry-After` seconds",
}

_RETRY_AFTER_HEADER = {
    "description": "Whole seconds to wait before retrying (sent with every 429 and 503).",
    "schema": {"type": "integer", "minimum": 1},
}

_SPACE_RULES = (
    f"Space resolution: the `{SPACE_HEADER}` header, else the `{SPACE_QUERY_PARAM}` query parameter, else the body's "
    f"`{BODY_SPACE_FIELD}`. Two sources that name different spaces are 400 `MEMORY_SPACE_CONFLICT`. With none, the "
    "request uses the default space (deprecated; counted as `engram_memory_space_default_fallback_total`), or is 400 "
    f'`MISSING_MEMORY_SPACE` ("{MISSING_SPACE_MESSAGE}") on a server with `require_explicit_space = true`.'
)

_DESCRIPTION = f"""\
Engram is a multi-tenant memory server: every memory lives in a **memory space**.

## Two ways to address a space

- **Path style**: `/api/v1/spaces/{{space}}/memories`, `.../recall`, `.../search`, ... The path names the space. The
  `{SPACE_HEADER}` header, the `{SPACE_QUERY_PARAM}` query parameter and the body's `{BODY_SPACE_FIELD}` may repeat it,
  and must then agree with it (else 400 `MEMORY_SPACE_CONFLICT`).
- **Engram-compatible**: the original Engram's routes (`/api/v1/memories`, `/api/v1/memories/recall`, ...), unchanged
  for its clients. {_SPACE_RULES}

A write to a space that does not exist creates it; a read of one answers as an empty space would.

## Errors

Every error is `{{"error": {{"code", "message", "hint"}}}}` with a stable `code`; the status follows from the code
(below). Answers 429 and 503 carry `Retry-After`. A path no route matches is 404 `ROUTE_NOT_FOUND`; a method a route
does not list is 405 `METHOD_NOT_ALLOWED` (with `Allow`).
"""


def document() -> dict[str, Any]:
    """The OpenAPI document, as a fresh JSON-ready dict."""
    return json.loads(document_bytes())


@functools.cache
def document_bytes() -> bytes:
    """The document as JSON bytes, built once per process: it depends only on the code."""
    return msgspec.json.encode(build_document(OPERATIONS))


def build_document(operations: Iterable[Operation]) -> dict[str, Any]:
    operations = list(operations)
    refs, schemas = _schemas(operations)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs, schemas)
    doc: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Engram REST API",
            "version": __version__,
            "summary": "Memory spaces for AI agents: remember, recall, search, consolidate.",
            "description": _DESCRIPTION + "\n" + error_table_markdown(),
        },
        "tags": [{"name": tag.value, "description": TAG_DESCRIPTIONS[tag]} for tag in Tag],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "headers": {"Retry-After": _RETRY_AFTER_HEADER},
        },
    }
    _prune_unreferenced_schemas(doc)
    return doc


def _schemas(operations: list[Operation]) -> tuple[dict[type, dict[str, str]], dict[str, Any]]:
    """``$ref``s of every Struct the operations name (bodies, answers, query Structs) and the components they need."""
    types: list[type] = [ErrorEnvelope, ErrorCode]
    for op in operations:
        for kind in (op.body, op.query, op.response):
            if isinstance(kind, type) and kind not in types:
                types.append(kind)
    refs, components = msgspec.json.schema_components(types, ref_template=SCHEMAS + "{name}")
    for schema in components.values():
        _tidy_descriptions(schema)
    # The envelope's Struct holds ``code`` as a plain str (the value of an ErrorCode); document it as the enum.
    components[ErrorDetail.__name__]["properties"]["code"] = refs[1]
    return dict(zip(types, refs, strict=True)), components


def _name(ref: dict[str, str]) -> str:
    return ref["$ref"].removeprefix(SCHEMAS)


def _operation(op: Operation, refs: dict[type, dict[str, str]], schemas: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "tags": [op.tag.value],
        "summary": op.summary,
        "operationId": operation_id(op),
    }
    description = " ".join(part for part in (op.description, _space_note(op)) if part)
    if description:
        spec["description"] = description
    parameters = [*_path_parameters(op), *_space_parameters(op), *_query_parameters(op, refs, schemas)]
    for param in parameters:
        if param["in"] == "query" and param["name"] in op.query_example:
            param["example"] = op.query_example[param["name"]]
    if parameters:
        spec["parameters"] = parameters
    if op.body is not None:
        media: dict[str, Any] = {"schema": refs[op.body] if isinstance(op.body, type) else dict(op.body)}
        if op.body_example is not None:
            media["example"] = dict(op.body_example)
        spec["requestBody"] = {"required": op.body_required, "content": {op.body_media_type: media}}
    spec["responses"] = {**_success_responses(op, refs), **_error_responses(op)}
    return spec


def operation_id(op: Operation) -> str:
    """``post_spaces_space_memories``: the method and the path's words, unique because (method, path) is."""
    words = re.sub(r"[^a-z0-9]+", "_", op.path.removeprefix("/api/v1").lower()).strip("_")
    return f"{op.method.lower()}_{words}"


def _space_note(op: Operation) -> str:
    body_names_space = isinstance(op.body, type) and BODY_SPACE_FIELD in op.body.__struct_fields__
    if op.space is SpaceFrom.REQUEST:
        return _SPACE_RULES if body_names_space else _SPACE_RULES.replace(", else the body's `memory_space_id`", "")
    if op.space is SpaceFrom.PATH:
        sources = f"`{SPACE_HEADER}`, `?{SPACE_QUERY_PARAM}=`" + (
            f" and `{BODY_SPACE_FIELD}`" if body_names_space else ""
        )
        return f"The path names the space; {sources} may repeat it and must agree (else 400 `MEMORY_SPACE_CONFLICT`)."
    return ""


def path_param_names(path: str) -> list[str]:
    return re.findall(r"{(\w+)}", path)


def _path_parameters(op: Operation) -> Iterator[dict[str, Any]]:
    for name in path_param_names(op.path):
        param = PATH_PARAMS[name]
        yield {
            "name": name,
            "in": "path",
            "required": True,
            "description": param.description,
            "schema": dict(param.schema),
            "example": param.example,
        }


def _space_parameters(op: Operation) -> Iterator[dict[str, Any]]:
    schema = dict(PATH_PARAMS["space"].schema)
    if op.space is SpaceFrom.FILTER:
        note = "Answer about this space only; without it, about every space."
        yield {"name": SPACE_QUERY_PARAM, "in": "query", "required": False, "description": note, "schema": schema}
        return
    if op.space not in (SpaceFrom.PATH, SpaceFrom.REQUEST):
        return
    if op.space is SpaceFrom.REQUEST:
        header = f"The memory space (first of: this header, `?{SPACE_QUERY_PARAM}=`, the body's `{BODY_SPACE_FIELD}`)."
        query = f"The memory space, when the `{SPACE_HEADER}` header is absent; must agree with it when both are given."
    else:
        header = query = "Optional: repeats the path's space, and must agree with it."
    yield {"name": SPACE_HEADER, "in": "header", "required": False, "description": header, "schema": schema}
    yield {"name": SPACE_QUERY_PARAM, "in": "query", "required": False, "description": query, "schema": schema}


def _query_parameters(
    op: Operation, refs: dict[type, dict[str, str]], schemas: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    if op.query is not None:
        struct = schemas[_name(refs[op.query])]
        required = set(struct.get("required", []))
        for name, schema in struct["properties"].items():
            if name not in op.query_skip:
                yield {"name": name, "in": "query", "required": name in required, "schema": _query_schema(schema)}
    for param in op.query_extra:
        yield _extra_parameter(param)


def _extra_parameter(param: QueryParam) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": param.name, "in": "query", "required": False, "description": param.description}
    if param.deprecated:
        spec["deprecated"] = True
    spec["schema"] = dict(param.schema)
    return spec


def _query_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A Struct field's schema as a query parameter's: a query value is never JSON null, so drop that branch."""
    schema = dict(schema)
    options = schema.pop("anyOf", None)
    if options is not None:
        options = [option for option in options if option != {"type": "null"}]
        if len(options) == 1:
            schema.update(options[0])
        else:
            schema["anyOf"] = options
    if schema.get("default", 0) is None:
        del schema["default"]
    return schema


def _success_responses(op: Operation, refs: dict[type, dict[str, str]]) -> dict[str, Any]:
    schema = refs[op.response] if isinstance(op.response, type) else dict(op.response)
    responses = {}
    for status, meaning in op.statuses.items():
        response: dict[str, Any] = {"description": meaning, "content": {op.media_type: {"schema": schema}}}
        if status in RETRY_AFTER_STATUSES:
            response["headers"] = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
        responses[str(status)] = response
    return responses


def _error_responses(op: Operation) -> dict[str, Any]:
    by_status: dict[int, list[str]] = {}
    for code in sorted(op.errors, key=lambda code: (HTTP_STATUS[code], code.value)):
        by_status.setdefault(HTTP_STATUS[code], []).append(code.value)
    responses = {}
    for status, codes in by_status.items():
        meanings = "; ".join(f"`{code}`: {CODE_MEANINGS.get(code, code)}" for code in codes)
        schema = {
            "allOf": [
                {"$ref": SCHEMAS + ErrorEnvelope.__name__},
                {
                    "type": "object",
                    "properties": {"error": {"type": "object", "properties": {"code": {"enum": codes}}}},
                },
            ]
        }
        response: dict[str, Any] = {
            "description": f"{STATUS_REASONS.get(status, 'Error')}. {meanings}.",
            "content": {JSON: {"schema": schema}},
        }
        if status in RETRY_AFTER_STATUSES:
            response["headers"] = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
        responses[str(status)] = response
    return responses


def _tidy_descriptions(node: Any) -> None:
    """Docstrings become descriptions: drop their source indentation."""
    if isinstance(node, dict):
        if isinstance(node.get("description"), str):
            node["description"] = inspect.cleandoc(node["description"])
        for value in node.values():
            _tidy_descriptions(value)
    elif isinstance(node, list):
        for value in node:
            _tidy_descriptions(value)


def refs_in(node: Any) -> Iterator[str]:
    """Every ``$ref`` value under ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs_in(value)


def _prune_unreferenced_schemas(doc: dict[str, Any]) -> None:
    """Keep the schemas the operations reach (query Structs are inlined as parameters, not referenced)."""
    schemas = doc["components"]["schemas"]
    reached: set[str] = set()
    pending = [ref for ref in refs_in(doc["paths"]) if ref.startswith(SCHEMAS)]
    while pending:
        name = pending.pop().removeprefix(SCHEMAS)
        if name not in reached:
            reached.add(name)
            pending.extend(ref for ref in refs_in(schemas[name]) if ref.startswith(SCHEMAS))
    doc["components"]["schemas"] = {name: schema for name, schema in schemas.items() if name in reached}


def error_table_markdown() -> str:
    rows = ["| code | status | meaning |", "|---|---|---|"]
    for code in sorted(ErrorCode, key=lambda code: (HTTP_STATUS[code], code.value)):
        rows.append(f"| `{code.value}` | {HTTP_STATUS[code]} | {CODE_MEANINGS.get(code.value, '')} |")
    return "\n".join(rows) + "\n"


def routes_markdown(operations: Iterable[Operation] = OPERATIONS) -> str:
    """The route list of docs/api.md, one table per tag (a unit test keeps the page equal to this)."""
    operations = list(operations)
    parts = []
    for tag in Tag:
        rows = [op for op in operations if op.tag is tag]
        if not rows:
            continue
        parts.append(f"### {tag.value}\n\n| method | path | what | answers |\n|---|---|---|---|")
        for op in rows:
            answers = ", ".join(str(status) for status in op.statuses)
            errors = ", ".join(sorted({str(HTTP_STATUS[code]) for code in op.errors}))
            parts[-1] += f"\n| `{op.method}` | `{op.path}` | {op.summary} | {answers}" + (
                f"; errors {errors} |" if errors else " |"
            )
    return "\n\n".join(parts) + "\n"


class OpenApiResource:
    """Serves the document; any origin may read it, so a docs page opened from disk can render it."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = document_bytes()
        resp.set_header("Access-Control-Allow-Origin", "*")


def main(argv: list[str]) -> int:
    if argv[1:] == ["--routes"]:
        sys.stdout.write(routes_markdown())
    elif argv[1:]:
        sys.stderr.write("usage: python -m engram.api.openapi [--routes]\n")
        return 2
    else:
        sys.stdout.write(json.dumps(document(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
