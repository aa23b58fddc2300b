"""Recall: ``/api/v1/memories/recall`` and ``/api/v1/spaces/{space}/recall``.

GET takes the original's query string (``embedding`` as a JSON array string); POST takes the same fields as a
JSON body. The answer keeps the original's cognitive shape: hits split into ``vivid`` (similarity above 0.7)
and ``associated``, ``reconstructed`` always empty, plus ``recall_confidence``, ``query_analysis`` and
optional ``metadata``. All three modes are accepted; until spreading activation arrives, each runs a
similarity search.
"""

from __future__ import annotations

import time
from typing import cast

import falcon
import msgspec

from engram import protocol
from engram.api.bodies import RecallInput, read_body
from engram.api.conversions import embedding_bytes, embedding_param, rfc3339
from engram.api.gateway import Gateway
from engram.api.params import read_query
from engram.api.responses import ConfidenceView, confidence_view, send_json
from engram.api.spaces_resolution import space_of_request
from engram.config import Config
from engram.errors import EngramError, ErrorCode

VIVID_SIMILARITY_ABOVE = 0.7
SEARCH_STRATEGY = "Similarity search over memory embeddings"
RETRIEVAL_PATH = "Memory store recall"


class RecalledMemory(msgspec.Struct):
    id: str
    content: str
    confidence: ConfidenceView
    activation_level: float
    similarity_score: float
    retrieval_path: str
    observed_at: str
    last_access: str
    tags: list[str]
    memory_type: str
    relevance_explanation: str


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
        params = read_query(req, RecallInput, skip=("embedding", "memory_space_id"))
        raw_embedding = req.get_param("embedding")
        embedding = None if raw_embedding is None else embedding_param(raw_embedding)
        self._recall(req, resp, params, embedding, path_space=space)

    def on_post(self, req: falcon.Request, resp: falcon.Response, space: str | None = None) -> None:
        body = read_body(req, RecallInput)
        embedding = None if body.embedding is None else embedding_bytes(body.embedding)
        self._recall(req, resp, body, embedding, path_space=space)

    def _recall(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        params: RecallInput,
        embedding: bytes | None,
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
        request = protocol.Recall(query, embedding, params.threshold, params.max_results)
        result = cast(protocol.RecallResult, self._gateway.call(request, space))
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        send_json(resp, recall_response(result, query, params, elapsed_ms))


def recall_response(
    result: protocol.RecallResult, query: str | None, params: RecallInput, elapsed_ms: int
) -> RecallResponse:
    recalled = [recalled_memory(hit) for hit in result.hits]
    best = max((hit.similarity for hit in result.hits), default=0.0)
    metadata = (
        # Nothing spreads yet (0 hops); load reporting arrives with the metrics.
        RecallMetadata(result.searched, 0, elapsed_ms, "Normal") if params.include_metadata else None
    )
    return RecallResponse(
        memories=RecalledGroups(
            vivid=[item for item in recalled if item.similarity_score > VIVID_SIMILARITY_ABOVE],
            associated=[item for item in recalled if item.similarity_score <= VIVID_SIMILARITY_ABOVE],
            reconstructed=[],
        ),
        recall_confidence=confidence_view(
            best,
            "Highest similarity among the recalled memories"
            if recalled
            else "No memory passed the similarity threshold",
        ),
        query_analysis=QueryAnalysis(
            understood_intent=query or "embedding similarity",
            search_strategy=SEARCH_STRATEGY,
            cognitive_load="Low",
            suggestions=[] if recalled else ["Lower 'threshold' to include weaker matches"],
        ),
        metadata=metadata,
        system_message=f"Recall completed in {elapsed_ms}ms. Found {len(recalled)} memories by similarity.",
    )


def recalled_memory(hit: protocol.Hit) -> RecalledMemory:
    memory = hit.memory
    return RecalledMemory(
        id=memory.id,
        content=memory.content,
        confidence=confidence_view(memory.confidence, "Stored confidence of the memory"),
        # Until spreading activation arrives, activation is the memory's confidence scaled by similarity.
        activation_level=memory.confidence * hit.similarity,
        similarity_score=hit.similarity,
        retrieval_path=RETRIEVAL_PATH,
        observed_at=rfc3339(memory.observed_at),
        last_access=rfc3339(memory.last_access),
        tags=[],
        memory_type="Episodic",
        relevance_explanation=f"Retrieved with {hit.similarity:.2f} similarity",
    )
