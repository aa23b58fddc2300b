"""Consolidation: semantic patterns that similar episodes of a space consolidated into.

- ``POST /api/v1/spaces/{space}/consolidate`` runs a pass now (optional body ``{similarity_threshold,
  min_cluster_size}``); a scheduled pass also runs in the space's worker whenever its episodes changed.
- ``GET /api/v1/spaces/{space}/consolidations`` and the original's ``GET /api/v1/consolidations`` (space from header
  or query) list the latest result; ``.../consolidations/{id}`` gets one pattern (404 CONSOLIDATION_NOT_FOUND).

The original's shape, ``{generated_at, beliefs: [...], stats: {...}}``, with each belief's citations back to its
episodes. Fields the original filled with constants (ripple frequency and duration, replay speed) are left out
rather than invented.
"""

from __future__ import annotations

from typing import Annotated, cast

import falcon
import msgspec

from engram import protocol
from engram.api.bodies import read_body
from engram.api.conversions import rfc3339
from engram.api.gateway import Gateway
from engram.api.params import read_query
from engram.api.responses import send_json
from engram.api.spaces_resolution import space_of_request
from engram.config import Config
from engram.errors import EngramError, ErrorCode


class ConsolidateBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    similarity_threshold: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None
    min_cluster_size: Annotated[int, msgspec.Meta(ge=2, le=1000)] | None = None


class ListQuery(msgspec.Struct, kw_only=True):
    max_patterns: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100


class CitationView(msgspec.Struct):
    episode_id: str
    observed_at: str
    stored_at: str
    last_access: str
    encoding_confidence: float
    content_preview: str


class BeliefStats(msgspec.Struct):
    episode_count: int
    average_source_confidence: float
    freshness_hours: float


class Belief(msgspec.Struct):
    id: str
    summary: str
    strength: float
    schema_confidence: float
    last_consolidated: str
    citations: list[CitationView]
    stats: BeliefStats


class RunStats(msgspec.Struct):
    total_replays: int
    total_patterns_extracted: int
    episodes_considered: int
    last_replay_timestamp: str | None


class ConsolidationsResponse(msgspec.Struct):
    generated_at: str | None
    beliefs: list[Belief]
    stats: RunStats
    memory_space_id: str


class ConsolidateResource:
    def __init__(self, gateway: Gateway, config: Config) -> None:
        self._gateway = gateway
        self._config = config

    def on_post(self, req: falcon.Request, resp: falcon.Response, space: str) -> None:
        body = read_body(req, ConsolidateBody) if req.content_length else ConsolidateBody()
        space = space_of_request(req, self._config, path_space=space)
        request = protocol.Consolidate(body.similarity_threshold, body.min_cluster_size)
        result = cast(protocol.Consolidations, self._gateway.call(request, space))
        send_json(resp, consolidations_response(result, space))


class ConsolidationsResource:
    def __init__(self, gateway: Gateway, config: Config) -> None:
        self._gateway = gateway
        self._config = config

    def on_get(self, req: falcon.Request, resp: falcon.Response, space: str | None = None) -> None:
        query = read_query(req, ListQuery, skip=("space", "max_episodes"))
        space = space_of_request(req, self._config, path_space=space)
        request = protocol.ListConsolidations(query.max_patterns)
        result = cast(protocol.Consolidations, self._gateway.call(request, space))
        send_json(resp, consolidations_response(result, space))


class ConsolidationResource:
    def __init__(self, gateway: Gateway, config: Config) -> None:
        self._gateway = gateway
        self._config = config

    def on_get(self, req: falcon.Request, resp: falcon.Response, pattern_id: str, space: str | None = None) -> None:
        space = space_of_request(req, self._config, path_space=space)
        pattern = cast(protocol.Pattern, self._gateway.call(protocol.GetConsolidation(pattern_id), space))
        send_json(resp, belief(pattern))


def consolidations_response(result: protocol.Consolidations, space: str) -> ConsolidationsResponse:
    stats = result.stats
    last = None if stats.last_run_at is None else rfc3339(stats.last_run_at)
    return ConsolidationsResponse(
        generated_at=rfc3339(result.generated_at) if result.generated_at else None,
        beliefs=[belief(p) for p in result.patterns],
        stats=RunStats(stats.total_runs, stats.patterns, stats.episodes_considered, last),
        memory_space_id=space,
    )


def belief(pattern: protocol.Pattern) -> Belief:
    citations = pattern.citations
    if not citations:
        raise EngramError(ErrorCode.MEMORY_SYSTEM_ERROR, f"Pattern '{pattern.id}' has no citations.")
    newest = max(c.observed_at for c in citations)
    return Belief(
        id=pattern.id,
        summary=pattern.summary,
        strength=pattern.strength,
        schema_confidence=pattern.schema_confidence,
        last_consolidated=rfc3339(pattern.last_consolidated),
        citations=[
            CitationView(
                c.episode_id,
                rfc3339(c.observed_at),
                rfc3339(c.stored_at),
                rfc3339(c.last_access),
                c.encoding_confidence,
                c.content_preview,
            )
            for c in citations
        ],
        stats=BeliefStats(
            episode_count=len(citations),
            average_source_confidence=sum(c.encoding_confidence for c in citations) / len(citations),
            freshness_hours=max(0.0, (pattern.last_consolidated - newest) / 3600),
        ),
    )
