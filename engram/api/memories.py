"""Remember, list and get memories, in both address styles.

Compatible routes: ``POST /api/v1/memories/remember``, ``GET|POST /api/v1/memories`` and
``GET /api/v1/memories/{memory_id}``, with the space from header, query or body. Path style: the same under
``/api/v1/spaces/{space}/``. One handler serves both; ``space`` is the path segment when there is one.
Responses keep the original Engram's field names; the fields it lacks (``memory_space_id``, ``replaced``,
``total``, ...) are additions.
"""

from __future__ import annotations

from typing import cast

import falcon
import msgspec

from engram import protocol
from engram.api.bodies import RememberBody, read_body
from engram.api.conversions import embedding_bytes, embedding_list, parse_timestamp, rfc3339
from engram.api.filters import FILTER_PARAMS, filters_from_query
from engram.api.gateway import Gateway
from engram.api.params import ListQuery, read_query
from engram.api.responses import (
    ConfidenceView,
    LinkView,
    MemoryFacets,
    confidence_view,
    facets,
    link_views,
    send_json,
)
from engram.api.spaces_resolution import space_of_request
from engram.config import Config
from engram.errors import EngramError, ErrorCode
from engram.ids import validate_memory_id

DEFAULT_CONFIDENCE_REASONING = "Default confidence for user-provided memory"
DEFAULT_MEMORY_TYPE = "episodic"  # the original stores every memory as an episode and reports it so
CONSOLIDATIONS_LINK = "/api/v1/consolidations"


class ConsolidationLinks(msgspec.Struct):
    consolidation: str = CONSOLIDATIONS_LINK


class RememberResponse(msgspec.Struct):
    memory_id: str
    storage_confidence: ConfidenceView
    consolidation_state: str
    observed_at: str
    stored_at: str
    links: ConsolidationLinks
    auto_links: list[LinkView]  # every edge remembering formed (similarity, episode context, time)
    system_message: str
    memory_space_id: str
    replaced: bool


class ListedMemory(MemoryFacets):
    id: str
    content: str
    confidence: float
    timestamp: str
    embedding: list[float] | None = None


class Pagination(msgspec.Struct):
    offset: int
    limit: int
    returned: int


class TierCounts(msgspec.Struct):
    hot: int
    warm: int
    cold: int
    total: int


class MemoryListResponse(msgspec.Struct):
    memories: list[ListedMemory]
    count: int
    total: int
    pagination: Pagination
    tier_counts: TierCounts


class MemoryResponse(MemoryFacets):
    """The original's memory, plus its traits: ``current_confidence`` is ``confidence`` after forgetting since
    ``last_access``; ``links`` are its association edges (docs/memory-model.md)."""

    id: str
    content: str
    confidence: float
    timestamp: str
    stored_at: str
    last_access: str
    memory_space_id: str
    current_confidence: float
    access_count: int
    decay_rate: float
    links: list[LinkView]
    confidence_reasoning: str | None = None


class MemoriesResource:
    """``/memories``: POST remembers one memory, GET lists a page. ``on_post_remember`` serves the compatible
    ``/memories/remember`` route (registered with suffix "remember")."""

    def __init__(self, gateway: Gateway, config: Config) -> None:
        self._gateway = gateway
        self._config = config

    def on_post(self, req: falcon.Request, resp: falcon.Response, space: str | None = None) -> None:
        body = read_body(req, RememberBody)
        space = space_of_request(req, self._config, path_space=space, body_space=body.memory_space_id)
        request = protocol.Remember([memory_in(body)])
        remembered = cast(protocol.Remembered, self._gateway.call(request, space))
        stored = remembered.memories[0]
        reasoning = body.confidence_reasoning or DEFAULT_CONFIDENCE_REASONING
        send_json(resp, remember_response(stored, space, reasoning), 201)

    on_post_remember = on_post

    def on_get(self, req: falcon.Request, resp: falcon.Response, space: str | None = None) -> None:
        query = read_query(req, ListQuery, skip=FILTER_PARAMS)
        space = space_of_request(req, self._config, path_space=space)
        filters = filters_from_query(req)
        request = protocol.ListMemories(query.offset, query.limit, query.include_embeddings, filters)
        page = cast(protocol.MemoryPage, self._gateway.call(request, space))
        memories = [listed_memory(record) for record in page.memories]
        returned = len(memories)
        send_json(
            resp,
            MemoryListResponse(
                memories,
                count=returned,
                total=page.total,
                pagination=Pagination(query.offset, query.limit, returned),
                # Every memory is served from the "hot" arrays; warm and cold tiers are not separate yet.
                tier_counts=TierCounts(hot=page.total, warm=0, cold=0, total=page.total),
            ),
        )


class MemoryResource:
    """``/memories/{memory_id}``: one memory by id."""

    def __init__(self, gateway: Gateway, config: Config) -> None:
        self._gateway = gateway
        self._config = config

    def on_get(self, req: falcon.Request, resp: falcon.Response, memory_id: str, space: str | None = None) -> None:
        memory_id = validate_memory_id(memory_id)
        space = space_of_request(req, self._config, path_space=space)
        record = cast(protocol.MemoryRecord, self._gateway.call(protocol.GetMemory(memory_id), space))
        current = record.confidence if record.current_confidence is None else record.current_confidence
        send_json(
            resp,
            MemoryResponse(
                record.id,
                record.content,
                record.confidence,
                timestamp=rfc3339(record.observed_at),
                stored_at=rfc3339(record.stored_at),
                last_access=rfc3339(record.last_access),
                memory_space_id=space,
                current_confidence=current,
                access_count=record.access_count,
                decay_rate=record.decay_rate or 0.0,
                links=link_views(record.links),
                confidence_reasoning=record.confidence_reasoning,
                **facets(record, DEFAULT_MEMORY_TYPE),
            ),
        )

    def on_delete(self, req: falcon.Request, resp: falcon.Response, memory_id: str, space: str | None = None) -> None:
        """Really deletes (the original answered 200 "not_supported"): gone from recall, list and search, durably."""
        memory_id = validate_memory_id(memory_id)
        space = space_of_request(req, self._config, path_space=space)
        deleted = cast(protocol.Deleted, self._gateway.call(protocol.DeleteMemory(memory_id), space))
        send_json(resp, DeleteResponse("deleted", deleted.id, space))


class DeleteResponse(msgspec.Struct):
    status: str
    memory_id: str
    memory_space_id: str


def memory_in(body: RememberBody) -> protocol.MemoryIn:
    """The protocol's memory from a remember body; everything the edge can check is checked here."""
    if not body.content.strip():
        raise EngramError(
            ErrorCode.INVALID_MEMORY_INPUT,
            "Memory content cannot be empty.",
            hint="Send the text to remember in 'content'.",
        )
    if not 0.0 <= body.confidence <= 1.0:
        # The original silently clamps; a confidence outside [0, 1] is a client bug worth showing instead.
        raise EngramError(
            ErrorCode.INVALID_MEMORY_INPUT,
            f"Confidence must be between 0 and 1, got {body.confidence:g}.",
            hint="Send a confidence between 0 and 1, or omit it for 0.7.",
        )
    return protocol.MemoryIn(
        content=body.content,
        id=None if body.id is None else validate_memory_id(body.id),
        embedding=None if body.embedding is None else embedding_bytes(body.embedding),
        confidence=body.confidence,
        observed_at=None if body.timestamp is None else parse_timestamp(body.timestamp),
        tags=body.tags or [],
        memory_type=body.memory_type,
        metadata=body.metadata or {},
        decay_rate=body.decay_rate,
        confidence_reasoning=body.confidence_reasoning,
        auto_link=body.auto_link,
        link_threshold=body.link_threshold,
    )


def remember_response(
    stored: protocol.StoredMemory, space: str, reasoning: str, system_message: str | None = None
) -> RememberResponse:
    """The original's RememberResponse; ``system_message`` defaults to the one for a plain memory."""
    return RememberResponse(
        memory_id=stored.id,
        storage_confidence=confidence_view(stored.activation, reasoning),
        consolidation_state="Recent",
        observed_at=rfc3339(stored.observed_at),
        stored_at=rfc3339(stored.stored_at),
        links=ConsolidationLinks(),
        auto_links=link_views(stored.links),
        system_message=system_message
        or f"Memory '{stored.id}' successfully encoded with {stored.activation:.2f} activation.",
        memory_space_id=space,
        replaced=stored.replaced,
    )


def listed_memory(record: protocol.MemoryRecord) -> ListedMemory:
    embedding = None if record.embedding is None else embedding_list(record.embedding)
    return ListedMemory(
        record.id,
        record.content,
        record.confidence,
        rfc3339(record.observed_at),
        embedding,
        **facets(record, DEFAULT_MEMORY_TYPE),
    )
