"""Content search: ``GET /api/v1/memories/search`` and ``GET /api/v1/spaces/{space}/search``.

The original's shape: ``{"memories": [{id, content, confidence, memory_type, timestamp}], "total"}``; memories
whose content holds the query's words, best coverage first. Filters as on list and recall (engram.api.filters).
"""

from __future__ import annotations

from typing import Annotated, cast

import falcon
import msgspec

from engram import protocol
from engram.api.conversions import rfc3339
from engram.api.filters import FILTER_PARAMS, filters_from_query
from engram.api.gateway import Gateway
from engram.api.params import MAX_LIST_LIMIT, read_query
from engram.api.responses import send_json
from engram.api.spaces_resolution import space_of_request
from engram.config import Config
from engram.errors import EngramError, ErrorCode


class SearchQuery(msgspec.Struct, kw_only=True):
    query: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_LIST_LIMIT)] = 10


class FoundMemory(msgspec.Struct):
    id: str
    content: str
    confidence: float
    memory_type: str
    timestamp: str
    kind: str


class SearchResponse(msgspec.Struct):
    memories: list[FoundMemory]
    total: int
    memory_space_id: str


class SearchResource:
    def __init__(self, gateway: Gateway, config: Config) -> None:
        self._gateway = gateway
        self._config = config

    def on_get(self, req: falcon.Request, resp: falcon.Response, space: str | None = None) -> None:
        query = read_query(req, SearchQuery, skip=("space", *FILTER_PARAMS))
        if not query.query or not query.query.strip():
            raise EngramError(
                ErrorCode.INVALID_MEMORY_INPUT,
                "Missing 'query' parameter.",
                hint="Pass the words to look for, e.g. ?query=mitochondria",
            )
        space = space_of_request(req, self._config, path_space=space)
        request = protocol.Search(query.query, query.limit, filters_from_query(req))
        page = cast(protocol.MemoryPage, self._gateway.call(request, space))
        found = [
            FoundMemory(m.id, m.content, m.confidence, m.memory_type or m.kind, rfc3339(m.observed_at), m.kind)
            for m in page.memories
        ]
        send_json(resp, SearchResponse(found, page.total, space))
