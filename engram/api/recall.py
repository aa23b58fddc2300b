"""Recall: ``/api/v1/memories/recall`` and ``/api/v1/spaces/{space}/recall``.

GET takes the original's query string (``embedding`` as a JSON array string); POST takes the same fields as a
JSON body. The answer keeps the original's cognitive shape, ``vivid`` / ``associated`` / ``reconstructed`` plus
``recall_confidence``, ``query_analysis`` and optional ``metadata``, with real values: ``mode`` (similarity,
spreading, hybrid), ``max_depth`` and ``time_budget_ms`` go to the worker's spreading activation, and each hit's
``activation_level``, ``similarity_score`` and ``retrieval_path`` say how it was found (``trace_activation`` adds
the ``activation_path`` of ids). Grouping (``recall_group``, docs/memory-model.md):

- vivid: a direct cue match (similarity above 0.7);
- associated: a weaker direct match, or a memory one association away whose current confidence is above 0.3;
- reconstructed: reached through two or more associations, or through any with a current confidence of 0.3 or less
  (the original's "low" confidence): pieced together more than remembered.
"""

from __future__ import annotations

import time
from typing import cast

import falcon
import msgspec

from engram import protocol
from engram.api.bodies import RecallInput, read_body
from engram.api.conversions import embedding_bytes, embedding_param, rfc3339
from engram.api.filters import FILTER_PARAMS, filters_from_body, filters_from_query
from engram.api.gateway import Gateway
from engram.api.params import read_query
from engram.api.responses import ConfidenceView, MemoryFacets, confidence_view, facets, send_json
from engram.api.spaces_resolution import space_of_request
from engram.config import Config
from engram.errors import EngramError, ErrorCode

VIVID_SIMILARITY_ABOVE = 0.7
LOW_CONFIDENCE_AT_MOST = 0.3
DEFAULT_MEMORY_TYPE = "Episodic"  # as the original's recall reports every memory
SEARCH_STRATEGIES = {
    "similarity": "Similarity search over memory embeddings",
    "spreading": "Spreading activation from the similarity hits along association edges",
    "hybrid": "Hybrid recall blending similarity and spreading activation",
}


class RecalledMemory(MemoryFacets):
    """The original's recalled memory. ``confidence`` is the current (decayed) one; ``hops`` the associations
    crossed to reach it (0: a direct cue match); ``activation_path`` (with ``trace_activation``) the ids from the
    cue match it spread from to itself."""

    id: str
    content: str
    confidence: ConfidenceView
    activation_level: float
    similarity_score: float
    retrieval_path: str
    observed_at: str
    last_access: str
    relevance_explanation: str
    hops: int
    activation_path: list[str] | None = None


class RecalledGroups(msgspec.Struct):
    vivid: list[RecalledMemory]
    associated: list[RecalledMemory]
    reconstructed: list[RecalledMemory]


class QueryAnalysis(msgspec.Struct):
    understood_intent: str
    search_strategy: str
    cognitive_load: str
    suggestions: list[str]


class RecallMetadata(msgspec.Struct):
    total_memories_searched: int
    activation_spread_hops: int
    processing_time_ms: int
    memory_system_load: str


class RecallResponse(msgspec.Struct):
    memories: RecalledGroups
    recall_confidence: ConfidenceView
    query_analysis: QueryAnalysis
    metadata: RecallMetadata | None  # null unless include_metadata, as in the original
    system_message: str


class RecallResource:
    """Both styles and both methods parse into one ``RecallInput`` and share ``_recall``."""

    def __init__(self, gateway: Gateway, config: Config) -> None:
        self._gateway = gateway
        self._config = config

    def on_get(self, req: falcon.Request, resp: falcon.Response, space: str | None = None) -> None:
        params = read_query(req, RecallInput, skip=("embedding", "memory_space_id", "filters", *FILTER_PARAMS))
        raw_embedding = req.get_param("embedding")
        embedding = None if raw_embedding is None else embedding_param(raw_embedding)
        self._recall(req, resp, params, embedding, filters_from_query(req), path_space=space)

    def on_post(self, req: falcon.Request, resp: falcon.Response, space: str | None = None) -> None:
        body = read_body(req, RecallInput)
        embedding = None if body.embedding is None else embedding_bytes(body.embedding)
        self._recall(req, resp, body, embedding, filters_from_body(body.filters), path_space=space)

    def _recall(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        params: RecallInput,
        embedding: bytes | None,
        filters: protocol.Filters | None,
        path_space: str | None,
    ) -> None:
        started = time.perf_counter()
        query = params.query.strip() if params.query else None
        if not query and embedding is None:
            raise EngramError(
                ErrorCode.INVALID_MEMORY_INPUT,
                "Recall requires either a text query or embedding vector. Provide 'query' or 'embedding'.",
                hint="e.g. GET /api/v1/memories/recall?query=mitochondria",
            )
        space = space_of_request(req, self._config, path_space=path_space, body_space=params.memory_space_id)
        request = protocol.Recall(
            query,
            embedding,
            params.threshold,
            params.max_results,
            mode=params.mode,
            max_depth=params.max_depth,
            time_budget_ms=params.time_budget_ms,
            trace=params.trace_activation,
            filters=filters,
        )
        result = cast(protocol.RecallResult, self._gateway.call(request, space))
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        send_json(resp, recall_response(result, query, params, elapsed_ms))


def recall_response(
    result: protocol.RecallResult, query: str | None, params: RecallInput, elapsed_ms: int
) -> RecallResponse:
    groups = RecalledGroups([], [], [])
    for hit in result.hits:
        getattr(groups, recall_group(hit)).append(recalled_memory(hit, params.trace_activation))
    direct = sum(1 for hit in result.hits if hit.depth == 0)
    best = max((hit.similarity for hit in result.hits), default=0.0)
    metadata = (
        # Load reporting arrives with the metrics.
        RecallMetadata(result.searched, result.spread_hops, elapsed_ms, "Normal") if params.include_metadata else None
    )
    suggestions = []
    if not result.hits:
        suggestions.append("Lower 'threshold' to include weaker matches")
    if params.mode == "similarity":
        suggestions.append("Use mode=hybrid to include memories associated with the matches")
    elif not params.trace_activation:
        suggestions.append("Set trace_activation=true to inspect activation flow")
    return RecallResponse(
        memories=groups,
        recall_confidence=confidence_view(
            best,
            "Highest cue similarity among the recalled memories" if result.hits else "No memory matched the cue",
        ),
        query_analysis=QueryAnalysis(
            understood_intent=query or "embedding similarity",
            search_strategy=SEARCH_STRATEGIES[params.mode],
            cognitive_load="Low",
            suggestions=suggestions,
        ),
        metadata=metadata,
        system_message=f"Recall completed in {elapsed_ms}ms. Found {len(result.hits)} memories: {direct} by direct "
        f"cue match, {len(result.hits) - direct} through spreading activation.",
    )


def recall_group(hit: protocol.Hit) -> str:
    """``vivid``, ``associated`` or ``reconstructed``: the rule in this module's docstring."""
    if hit.depth == 0:
        return "vivid" if hit.similarity > VIVID_SIMILARITY_ABOVE else "associated"
    if hit.depth == 1 and _current_confidence(hit.memory) > LOW_CONFIDENCE_AT_MOST:
        return "associated"
    return "reconstructed"


def recalled_memory(hit: protocol.Hit, trace: bool = False) -> RecalledMemory:
    memory = hit.memory
    current = _current_confidence(memory)
    if hit.depth == 0:
        retrieval_path = "Direct cue match"
        explanation = f"Matched the cue with {hit.similarity:.2f} similarity"
    else:
        hops = "1 association" if hit.depth == 1 else f"{hit.depth} associations"
        origin = f" from '{hit.path[0]}'" if hit.path else ""
        retrieval_path = f"Spreading activation across {hops}{origin}"
        explanation = f"Activated to {hit.activation:.2f} through {hops}"
    if hit.path:
        retrieval_path = " -> ".join(hit.path)
    return RecalledMemory(
        id=memory.id,
        content=memory.content,
        confidence=confidence_view(
            current, f"Stored confidence {memory.confidence:.2f} after forgetting since the last access"
        ),
        activation_level=hit.activation,
        similarity_score=hit.similarity,
        retrieval_path=retrieval_path,
        observed_at=rfc3339(memory.observed_at),
        last_access=rfc3339(memory.last_access),
        relevance_explanation=f"{explanation}; ranked {hit.score:.2f}",
        hops=hit.depth,
        activation_path=list(hit.path) if trace else None,
        **facets(memory, DEFAULT_MEMORY_TYPE),
    )


def _current_confidence(memory: protocol.MemoryRecord) -> float:
    return memory.confidence if memory.current_confidence is None else memory.current_confidence
