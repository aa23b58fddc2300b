"""The REST surface as data: every route and method with its parameters, body, answers and error codes.

``engram.api.openapi`` renders this table as the OpenAPI document served at ``GET /openapi.json``. The types named
here are the very Structs the handlers decode requests into and encode answers from, so the document describes what
the code parses rather than what someone remembered to write down. ``create_app`` still registers the resources;
``tests/unit/test_openapi.py`` fails when a route and method it registers has no ``Operation`` here, or the other way
round, so adding a route means adding its row.

Error codes are listed per operation from the groups below (``COMMON``, ``SPACE_FROM_PATH``, ...): a group names the
codes one step of handling a request can raise (decoding the body, resolving the space, reaching a worker), so an
operation's errors are the union of the steps it takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import msgspec

from engram.api.associations import AssociationBody, AssociationResponse
from engram.api.bodies import CreateSpaceBody, RecallInput, RememberBody, UpdateSpaceBody
from engram.api.consolidations import Belief, ConsolidateBody, ConsolidationsResponse
from engram.api.consolidations import ListQuery as ConsolidationsQuery
from engram.api.episodes import EpisodeBody
from engram.api.health import HealthBody
from engram.api.memories import DeleteResponse, MemoryListResponse, MemoryResponse, RememberResponse
from engram.api.params import ListQuery
from engram.api.recall import RecallResponse
from engram.api.search import SearchQuery, SearchResponse
from engram.api.spaces import INCLUDE_DELETED_PARAM, SpaceDeletedView, SpaceDetailView, SpaceListView, SpaceView
from engram.api.status import SystemHealthBody
from engram.archive import ARCHIVE_CONTENT_TYPE
from engram.errors import ErrorCode as E
from engram.ids import MEMORY_ID_MAX_LEN, SPACE_ID_MAX_LEN, SPACE_ID_MIN_LEN
from engram.protocol import SpaceStatus

API = "/api/v1"
JSON = "application/json"

SPACE_ID_PATTERN = f"^[a-z0-9_-]{{{SPACE_ID_MIN_LEN},{SPACE_ID_MAX_LEN}}}$"
"""The canonical space id as a regular expression (engram.ids; the server also trims surrounding whitespace)."""

EXAMPLE_SPACE = "alpha"
EXAMPLE_MEMORY_ID = "mem_9579a7d2"
EXAMPLE_OTHER_MEMORY_ID = "mem_1f0c33b4"
EXAMPLE_PATTERN_ID = "pat_3c1d2e4f5a6b7c8d"


class SpaceFrom(StrEnum):
    """Where an operation takes its memory space from (docs/api.md, "Two ways to address a space")."""

    NONE = "none"
    """Registry and operations routes: no space, or the space is in the body (create)."""
    PATH = "path"
    """``{space}`` in the path; the header, query and body may repeat it but must agree."""
    PATH_ONLY = "path_only"
    """``{space}`` in the path and nowhere else (the registry's own view of one space)."""
    REQUEST = "request"
    """Engram-compatible: ``X-Memory-Space`` header > ``space`` query > body ``memory_space_id`` > default."""
    FILTER = "filter"
    """A registry-wide answer that an optional ``space`` query parameter narrows to one space (no default)."""


class Tag(StrEnum):
    SPACES = "Spaces"
    PATH_STYLE = "Space-scoped (path style)"
    COMPATIBLE = "Engram-compatible"
    OPERATIONS = "Operations"


TAG_DESCRIPTIONS: dict[Tag, str] = {
    Tag.SPACES: "The space registry: list, create-or-get and inspect memory spaces.",
    Tag.PATH_STYLE: "Everything a space holds, under `/api/v1/spaces/{space}/`. The path names the space.",
    Tag.COMPATIBLE: "The original Engram's routes, unchanged for its clients. The space comes from the "
    "`X-Memory-Space` header, else the `space` query parameter, else the body's `memory_space_id`, else the "
    "default space.",
    Tag.OPERATIONS: "Liveness, metrics and this document.",
}


@dataclass(frozen=True)
class PathParam:
    name: str
    schema: Mapping[str, Any]
    description: str
    example: str


@dataclass(frozen=True)
class QueryParam:
    """A query parameter a handler reads by hand (not through a query Struct)."""

    name: str
    schema: Mapping[str, Any]
    description: str
    deprecated: bool = False


PATH_PARAMS: dict[str, PathParam] = {
    param.name: param
    for param in (
        PathParam(
            "space",
            {
                "type": "string",
                "pattern": SPACE_ID_PATTERN,
                "minLength": SPACE_ID_MIN_LEN,
                "maxLength": SPACE_ID_MAX_LEN,
            },
            f"The memory space: {SPACE_ID_MIN_LEN}-{SPACE_ID_MAX_LEN} characters from `[a-z0-9_-]`.",
            EXAMPLE_SPACE,
        ),
        PathParam(
            "memory_id",
            {"type": "string", "minLength": 1, "maxLength": MEMORY_ID_MAX_LEN},
            "A memory's id: the client's own, or the `mem_` id the server gave it.",
            EXAMPLE_MEMORY_ID,
        ),
        PathParam(
            "pattern_id",
            {"type": "string", "minLength": 1},
            "A consolidated pattern's id (`pat_...`), as listed by the consolidations routes.",
            EXAMPLE_PATTERN_ID,
        ),
    )
}

_STRINGS = {"type": "array", "items": {"type": "string"}}

FILTER_QUERY: tuple[QueryParam, ...] = (
    QueryParam("required_tags", _STRINGS, "Tags every result carries; comma-separated, repeatable."),
    QueryParam("tags", _STRINGS, "Same as `required_tags` (both may be given; their union applies)."),
    QueryParam("excluded_tags", _STRINGS, "Tags no result carries; comma-separated, repeatable."),
    QueryParam(
        "metadata",
        {"type": "array", "items": {"type": "string", "pattern": "^[^=]+=.*$"}},
        "Metadata every result carries, as `key=value`; repeat for several pairs.",
    ),
    QueryParam("from_time", {"type": "string", "format": "date-time"}, "Observed at or after (RFC 3339)."),
    QueryParam("to_time", {"type": "string", "format": "date-time"}, "Observed at or before (RFC 3339)."),
    QueryParam("kind", {"type": "string", "enum": ["memory", "episode"]}, "Only plain memories or only episodes."),
)
"""The filter query parameters of engram.api.filters (FILTER_PARAMS), which parses them by hand."""

EMBEDDING_QUERY = QueryParam(
    "embedding",
    {"type": "string", "contentMediaType": JSON, "contentSchema": {"type": "array", "items": {"type": "number"}}},
    "The cue as a JSON array of numbers, e.g. `[0.1,0.2,0.3]` (instead of, or with, `query`).",
)
MAX_EPISODES_QUERY = QueryParam(
    "max_episodes", {"type": "integer"}, "Accepted for the original's clients and ignored.", deprecated=True
)

# Error groups: the codes one step of handling a request can answer with.
COMMON = frozenset({E.MEMORY_SYSTEM_ERROR, E.SERVICE_UNAVAILABLE})
"""Any route that asks the router: a bug (500), or the router or a worker unreachable or restarting (503)."""
BODY = frozenset({E.BAD_REQUEST, E.UNSUPPORTED_MEDIA_TYPE, E.PAYLOAD_TOO_LARGE})
"""Decoding a JSON body (engram.api.bodies.read_body)."""
INPUT = frozenset({E.INVALID_MEMORY_INPUT})
"""A value the types allow but the rules do not (a range, a timestamp, an id, a query parameter)."""
IN_SPACE = frozenset({E.MEMORY_SPACE_DELETED, E.STORAGE_UNAVAILABLE, E.QUOTA_EXCEEDED})
"""Reaching a space's data in its worker (within the space's ``max_rps`` quota)."""
SPACE_FROM_PATH = frozenset({E.INVALID_MEMORY_SPACE_ID, E.MEMORY_SPACE_CONFLICT}) | IN_SPACE
SPACE_FROM_REQUEST = SPACE_FROM_PATH | {E.MISSING_MEMORY_SPACE}
CREATES_SPACE = frozenset({E.SPACE_LIMIT_REACHED, E.QUOTA_EXCEEDED})
"""A write that creates its space when it does not exist, within ``max_spaces`` and the space's quotas."""
SPACE_ENTRY = frozenset(
    {E.INVALID_MEMORY_SPACE_ID, E.MEMORY_SPACE_NOT_FOUND, E.MEMORY_SPACE_DELETED, E.STORAGE_UNAVAILABLE}
)
"""Changing an existing space's registry entry (update, delete): it must exist and not be deleted."""


_ARCHIVE_SCHEMA = {"type": "string", "format": "binary", "description": "An Engram space archive (tar)."}
EVENT_STREAM = "text/event-stream"
_EVENT_STREAM_SCHEMA = {
    "type": "string",
    "description": "Server-sent events: `id:`, `event:` (stored, recalled, deleted, activation, consolidated) and "
    "`data:` (JSON `{id, type, memory_space_id, timestamp, data}`), with `: heartbeat` comments (docs/events.md).",
}
_EVENTS_DESCRIPTION = (
    "The space's events, as they are acknowledged, and only that space's. Resume with the `Last-Event-ID` header "
    "(or `last_event_id`): the events after it are sent first. A comment line is sent whenever no event came for "
    "`events_heartbeat_s` (15 s). See docs/events.md."
)
LAST_EVENT_ID_QUERY = QueryParam(
    "last_event_id", {"type": "string"}, "Resume after this event id (the `Last-Event-ID` header does the same)."
)


@dataclass(frozen=True)
class Operation:
    """One route and method: what it reads, what it answers and which error codes it can answer with.

    ``response`` and ``body`` are the Structs of the success body and the request body, or literal JSON Schemas for
    bodies that are not JSON (with ``media_type`` and ``body_media_type``, e.g. ``application/x-tar``);
    ``statuses`` maps each status answered with that body to what it means. ``body_example`` and ``query_example``
    make a valid request (the live tests send them). Errors are answered with the envelope
    ``{"error": {"code", "message", "hint"}}``, at the status ``engram.errors.HTTP_STATUS`` gives each code.
    """

    method: str
    path: str
    summary: str
    tag: Tag
    space: SpaceFrom
    response: type[msgspec.Struct] | Mapping[str, Any]
    statuses: Mapping[int, str] = field(default_factory=lambda: {200: "OK."})
    errors: frozenset[E] = COMMON
    description: str = ""
    media_type: str = JSON
    body: type[msgspec.Struct] | Mapping[str, Any] | None = None
    body_media_type: str = JSON
    body_required: bool = True
    body_example: Mapping[str, Any] | None = None
    query: type[msgspec.Struct] | None = None
    query_skip: tuple[str, ...] = ()
    query_extra: tuple[QueryParam, ...] = ()
    query_example: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return self.path, self.method


def _memory_routes(prefix: str, tag: Tag, space: SpaceFrom, space_errors: frozenset[E]) -> list[Operation]:
    """The memory, recall, search, episode and consolidation routes under ``prefix``, in one address style."""
    compatible = space is SpaceFrom.REQUEST
    write = COMMON | space_errors | BODY | INPUT | CREATES_SPACE
    read = COMMON | space_errors | INPUT
    remember = Operation(
        "POST",
        f"{prefix}/memories",
        "Remember a memory",
        tag,
        space,
        RememberResponse,
        {201: "Stored (durably: in the space's write-ahead log and fsynced)."},
        write,
        "Stores one memory; without an `embedding` the built-in text embedder computes one. An `id` that exists "
        "is replaced (`replaced: true`). A write to a space that does not exist creates it.",
        body=RememberBody,
        body_example={
            "content": "The mitochondria is the powerhouse of the cell",
            "confidence": 0.9,
            "tags": ["biology"],
            "metadata": {"source": "textbook"},
        },
    )
    recall_get = Operation(
        "GET",
        f"{prefix}/memories/recall" if compatible else f"{prefix}/recall",
        "Recall memories by cue (query string)",
        tag,
        space,
        RecallResponse,
        errors=read,
        description="Similarity search plus spreading activation along associations; hits are grouped as "
        "`vivid`, `associated` and `reconstructed` (docs/memory-model.md). Needs `query` or `embedding`. "
        "Recall reinforces what it returns.",
        query=RecallInput,
        query_skip=("embedding", "memory_space_id", "filters"),
        query_extra=(EMBEDDING_QUERY, *FILTER_QUERY),
        query_example={"query": "powerhouse of the cell", "max_results": 5, "mode": "hybrid"},
    )
    routes = [
        Operation(
            "GET",
            f"{prefix}/memories",
            "List memories",
            tag,
            space,
            MemoryListResponse,
            errors=read,
            description="A page of the space's memories, oldest first; an unknown space lists as an empty one.",
            query=ListQuery,
            query_extra=FILTER_QUERY,
            query_example={"offset": 0, "limit": 20},
        ),
        remember,
        Operation(
            "GET",
            f"{prefix}/memories/{{memory_id}}",
            "Get a memory",
            tag,
            space,
            MemoryResponse,
            errors=read | {E.MEMORY_NOT_FOUND},
        ),
        Operation(
            "DELETE",
            f"{prefix}/memories/{{memory_id}}",
            "Delete a memory",
            tag,
            space,
            DeleteResponse,
            errors=read | {E.MEMORY_NOT_FOUND},
            description="Deletes durably: gone from recall, list and search, also after a restart.",
        ),
        recall_get,
        Operation(
            "POST",
            recall_get.path,
            "Recall memories by cue (JSON body)",
            tag,
            space,
            RecallResponse,
            errors=read | BODY,
            description=recall_get.description + " The body takes the same fields as the GET query, and `filters`.",
            body=RecallInput,
            body_example={"query": "powerhouse of the cell", "max_results": 5, "filters": {"tags": ["biology"]}},
        ),
        Operation(
            "GET",
            f"{prefix}/memories/search" if compatible else f"{prefix}/search",
            "Search memory content",
            tag,
            space,
            SearchResponse,
            errors=read,
            description="Memories whose content holds the query's words, best coverage first.",
            query=SearchQuery,
            query_extra=FILTER_QUERY,
            query_example={"query": "mitochondria", "limit": 10},
        ),
        Operation(
            "POST",
            f"{prefix}/episodes/remember" if compatible else f"{prefix}/episodes",
            "Remember an episode",
            tag,
            space,
            RememberResponse,
            {201: "Stored durably."},
            write,
            "An episode is a memory with its context: what, when, where, who, why, how and how it felt. Episodes "
            "link to each other by shared place or people and nearness in time.",
            body=EpisodeBody,
            body_example={
                "when": "2024-01-04T08:15:00Z",
                "what": "Walked the dog in the park",
                "where_location": "park",
                "who": ["Ada"],
                "importance": 0.6,
            },
        ),
        Operation(
            "GET",
            f"{prefix}/consolidations",
            "List consolidated patterns",
            tag,
            space,
            ConsolidationsResponse,
            errors=read,
            description="The latest consolidation pass: semantic patterns with citations back to their episodes.",
            query=ConsolidationsQuery,
            query_extra=(MAX_EPISODES_QUERY,),
        ),
        Operation(
            "GET",
            f"{prefix}/consolidations/{{pattern_id}}",
            "Get a consolidated pattern",
            tag,
            space,
            Belief,
            errors=read | {E.CONSOLIDATION_NOT_FOUND},
        ),
    ]
    if compatible:
        # The original's alias: POST /memories and POST /memories/remember are the same handler.
        routes.insert(2, replace(remember, path=f"{prefix}/memories/remember"))
    else:
        routes += [
            Operation(
                "POST",
                f"{prefix}/associations",
                "Associate two memories",
                tag,
                space,
                AssociationResponse,
                {201: "The edge, created or re-weighted."},
                COMMON | space_errors | BODY | INPUT | {E.MEMORY_NOT_FOUND},
                "An explicit, symmetric edge that spreading activation follows at recall. Both memories must be in "
                "this space; associating a pair again sets its new weight.",
                body=AssociationBody,
                body_example={"source": EXAMPLE_MEMORY_ID, "target": EXAMPLE_OTHER_MEMORY_ID, "weight": 0.8},
            ),
            Operation(
                "POST",
                f"{prefix}/consolidate",
                "Run a consolidation pass now",
                tag,
                space,
                ConsolidationsResponse,
                errors=COMMON | space_errors | BODY,
                description="Groups similar episodes into patterns now (a scheduled pass also runs in the "
                "background). The body is optional.",
                body=ConsolidateBody,
                body_required=False,
                body_example={"similarity_threshold": 0.8, "min_cluster_size": 3},
            ),
        ]
    return routes


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        "/health",
        "Liveness",
        Tag.OPERATIONS,
        SpaceFrom.NONE,
        HealthBody,
        {
            200: "Healthy: the router answers and every worker is ready.",
            503: "Degraded (a worker is not ready) or unhealthy (the router is unreachable; `error` says why).",
        },
        frozenset(),
    ),
    Operation(
        "GET",
        "/openapi.json",
        "This OpenAPI document",
        Tag.OPERATIONS,
        SpaceFrom.NONE,
        {"type": "object", "description": "An OpenAPI 3.1 document."},
        errors=frozenset(),
    ),
    Operation(
        "GET",
        "/metrics",
        "Prometheus metrics",
        Tag.OPERATIONS,
        SpaceFrom.NONE,
        {"type": "string", "description": "Prometheus text exposition format."},
        errors=frozenset(),
        description="Every process's metrics (API, router, workers) merged, in the Prometheus text format; "
        "per-space series are labelled `memory_space`, bounded by `max_metric_spaces` (docs/metrics.md).",
        media_type="text/plain",
    ),
    Operation(
        "GET",
        f"{API}/spaces",
        "List spaces",
        Tag.SPACES,
        SpaceFrom.NONE,
        SpaceListView,
        errors=COMMON | {E.BAD_REQUEST},  # include_deleted other than true/false (Falcon's get_param_as_bool)
        description="Every space with its state and policy, sorted by id; deleted spaces only with "
        f"`{INCLUDE_DELETED_PARAM}=true`.",
        query_extra=(QueryParam(INCLUDE_DELETED_PARAM, {"type": "boolean"}, "List deleted spaces too."),),
    ),
    Operation(
        "POST",
        f"{API}/spaces",
        "Create (or get) a space",
        Tag.SPACES,
        SpaceFrom.NONE,
        SpaceView,
        {201: "Created (or a deleted space created again, empty).", 200: "It already existed; its policy is kept."},
        COMMON | BODY | {E.INVALID_MEMORY_SPACE_ID, E.DIMENSION_CONFLICT, E.SPACE_LIMIT_REACHED, E.STORAGE_UNAVAILABLE},
        "Create-or-get, so a client may call it on every start-up. `dim` fixes the embedding dimension (default: "
        "the server's); asking for another dimension than an existing space's is 409 DIMENSION_CONFLICT. The "
        "policy fields (`durability`, `durability_interval_ms`, `max_memories`, `max_bytes`, `max_rps`) apply to a "
        "new space; left out, they take the server's defaults. Beyond `max_spaces` it is 429 SPACE_LIMIT_REACHED.",
        body=CreateSpaceBody,
        body_example={"id": EXAMPLE_SPACE, "dim": 384, "durability": "interval", "max_memories": 100000},
    ),
    Operation(
        "GET",
        f"{API}/spaces/{{space}}",
        "Get a space",
        Tag.SPACES,
        SpaceFrom.PATH_ONLY,
        SpaceDetailView,
        errors=COMMON | IN_SPACE | {E.INVALID_MEMORY_SPACE_ID, E.MEMORY_SPACE_NOT_FOUND},
        description="Its dimension, policy, memory count, stored bytes, owning worker and index; 404 when it does "
        "not exist, 410 when it was deleted.",
    ),
    Operation(
        "PATCH",
        f"{API}/spaces/{{space}}",
        "Change a space's policy",
        Tag.SPACES,
        SpaceFrom.PATH_ONLY,
        SpaceView,
        errors=COMMON | BODY | SPACE_ENTRY,
        description="Merge-patch of the policy: a field left out keeps its value, a quota set to null is lifted. "
        "Takes effect with the space's next request (docs/durability.md).",
        body=UpdateSpaceBody,
        body_example={"durability": "interval", "durability_interval_ms": 100, "max_memories": 100000, "max_rps": None},
    ),
    Operation(
        "DELETE",
        f"{API}/spaces/{{space}}",
        "Delete a space",
        Tag.SPACES,
        SpaceFrom.PATH_ONLY,
        SpaceDeletedView,
        errors=COMMON | SPACE_ENTRY,
        description="Deletes the space and every memory in it: from this answer on, every request to it is 410 "
        "MEMORY_SPACE_DELETED until it is created again (empty); its files are purged in the background.",
    ),
    Operation(
        "GET",
        f"{API}/spaces/{{space}}/export",
        "Export a space as one archive",
        Tag.SPACES,
        SpaceFrom.PATH_ONLY,
        _ARCHIVE_SCHEMA,
        errors=COMMON | IN_SPACE | {E.INVALID_MEMORY_SPACE_ID, E.MEMORY_SPACE_NOT_FOUND},
        description="A tar whose first member, manifest.json, lists every other file with its size and SHA-256: the "
        "space's settings, a fresh snapshot and its log tail (docs/storage.md). Import it with POST .../import.",
        media_type=ARCHIVE_CONTENT_TYPE,
    ),
    Operation(
        "POST",
        f"{API}/spaces/{{space}}/import",
        "Create a space from an exported archive",
        Tag.SPACES,
        SpaceFrom.PATH_ONLY,
        SpaceView,
        statuses={201: "Imported: the space holds exactly what the archive held."},
        errors=COMMON
        | {E.INVALID_MEMORY_SPACE_ID, E.MEMORY_SPACE_EXISTS, E.INVALID_ARCHIVE, E.SPACE_LIMIT_REACHED}
        | {E.UNSUPPORTED_MEDIA_TYPE, E.PAYLOAD_TOO_LARGE, E.STORAGE_UNAVAILABLE},
        description="The whole archive is verified (manifest, sizes, checksums) before anything is written, so a "
        "damaged file is a 422 that leaves nothing behind; a space that exists is a 409.",
        body=_ARCHIVE_SCHEMA,
        body_media_type=ARCHIVE_CONTENT_TYPE,
    ),
    Operation(
        "GET",
        f"{API}/spaces/{{space}}/status",
        "A space's measured status",
        Tag.SPACES,
        SpaceFrom.PATH_ONLY,
        SpaceStatus,
        errors=COMMON | IN_SPACE | {E.INVALID_MEMORY_SPACE_ID, E.MEMORY_SPACE_NOT_FOUND},
        description="Live memory count, pressure, write-ahead log lag and consolidation backlog, measured by the "
        "owning worker now (it loads the space if it was offloaded); 404 when the space does not exist, 410 when it "
        "was deleted. `state` is `unavailable` (figures null) when the worker is down or did not answer in time.",
    ),
    *_memory_routes(f"{API}/spaces/{{space}}", Tag.PATH_STYLE, SpaceFrom.PATH, SPACE_FROM_PATH),
    *_memory_routes(API, Tag.COMPATIBLE, SpaceFrom.REQUEST, SPACE_FROM_REQUEST),
    Operation(
        "GET",
        f"{API}/system/health",
        "Per-space status and workers",
        Tag.COMPATIBLE,
        SpaceFrom.FILTER,
        SystemHealthBody,
        {200: "The router answered; `status` says whether every worker is ready."},
        COMMON | IN_SPACE | {E.INVALID_MEMORY_SPACE_ID, E.MEMORY_SPACE_NOT_FOUND},
        "Every active space with its measured figures (`state` `loaded`), or `offloaded` (on disk, not loaded: "
        "figures null) or `unavailable` (its worker is down or late), and every worker with its pid and restarts. "
        "With `space`, only that space, loaded by its worker so its figures are exact (404 unknown, 410 deleted).",
    ),
    *(
        Operation(
            "GET",
            path,
            summary,
            tag,
            space,
            _EVENT_STREAM_SCHEMA,
            {200: "The stream (it stays open)."},
            COMMON | errors,
            _EVENTS_DESCRIPTION,
            media_type=EVENT_STREAM,
            query_extra=(LAST_EVENT_ID_QUERY,),
        )  # fmt: skip
        for path, summary, tag, space, errors in (
            (
                f"{API}/spaces/{{space}}/events",
                "A space's events (SSE)",
                Tag.PATH_STYLE,
                SpaceFrom.PATH,
                SPACE_FROM_PATH,
            ),
            (f"{API}/stream/memories", "A space's events (SSE)", Tag.COMPATIBLE, SpaceFrom.REQUEST, SPACE_FROM_REQUEST),
            (
                f"{API}/stream/activities",
                "A space's events (SSE)",
                Tag.COMPATIBLE,
                SpaceFrom.REQUEST,
                SPACE_FROM_REQUEST,
            ),
        )  # fmt: skip
    ),
)
"""Every operation of the REST API, in the order the document lists them."""
