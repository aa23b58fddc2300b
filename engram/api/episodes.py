"""Episodes: ``POST /api/v1/spaces/{space}/episodes`` and the original's ``POST /api/v1/episodes/remember``.

An episode is a memory with context: what happened (``what``, its content), when (``when``, its observation time),
where, who, why, how and how it felt. The original accepted ``why``, ``how`` and ``emotional_valence`` and dropped
them; here every field is stored and returned by get, list and recall, and episodes link to each other by shared
place or people and nearness in time (docs/memory-model.md). ``importance`` (default 0.5) is the episode's
confidence, as the original's encoding confidence.
"""

from __future__ import annotations

from typing import cast

import falcon
import msgspec

from engram import protocol
from engram.api.bodies import read_body
from engram.api.conversions import embedding_bytes, parse_timestamp
from engram.api.gateway import Gateway
from engram.api.memories import remember_response
from engram.api.responses import send_json
from engram.api.spaces_resolution import space_of_request
from engram.config import Config
from engram.errors import EngramError, ErrorCode
from engram.ids import validate_memory_id

DEFAULT_IMPORTANCE = 0.5
IMPORTANCE_REASONING = "Encoding confidence from the episode's importance"


class EpisodeBody(msgspec.Struct, kw_only=True):
    """The original ``RememberEpisodeRequest``, plus ``metadata``, ``tags``, ``memory_type``, ``decay_rate`` and
    ``link_threshold``."""

    when: str
    what: str
    id: str | None = None
    where_location: str | None = None
    who: list[str] | None = None
    why: str | None = None
    how: str | None = None
    emotional_valence: float | None = None
    importance: float | None = None
    embedding: list[float] | None = None
    metadata: dict[str, str] | None = None
    tags: list[str] | None = None
    memory_type: str | None = None
    decay_rate: float | None = None
    auto_link: bool = False
    link_threshold: float = 0.7
    memory_space_id: str | None = None


class EpisodesResource:
    """One handler for both routes; ``space`` is the path segment of the path style."""

    def __init__(self, gateway: Gateway, config: Config) -> None:
        self._gateway = gateway
        self._config = config

    def on_post(self, req: falcon.Request, resp: falcon.Response, space: str | None = None) -> None:
        body = read_body(req, EpisodeBody)
        space = space_of_request(req, self._config, path_space=space, body_space=body.memory_space_id)
        remembered = cast(protocol.Remembered, self._gateway.call(protocol.Remember([episode_in(body)]), space))
        stored = remembered.memories[0]
        message = (
            f"Episode '{stored.id}' successfully encoded with {stored.activation:.2f} activation. "
            "Rich episodes consolidate better over time."
        )
        send_json(resp, remember_response(stored, space, IMPORTANCE_REASONING, message), 201)


def episode_in(body: EpisodeBody) -> protocol.MemoryIn:
    """The protocol's memory for an episode; the worker checks the ranges of the context's numbers."""
    if not body.what.strip():
        raise EngramError(
            ErrorCode.INVALID_MEMORY_INPUT,
            "Episode 'what' cannot be empty.",
            hint="Describe what happened in 'what'.",
        )
    importance = DEFAULT_IMPORTANCE if body.importance is None else body.importance
    if not 0.0 <= importance <= 1.0:
        # The original clamps; like a memory's confidence, an out-of-range importance is shown as the bug it is.
        raise EngramError(
            ErrorCode.INVALID_MEMORY_INPUT,
            f"Importance must be between 0 and 1, got {importance:g}.",
            hint=f"Send an importance between 0 and 1, or omit it for {DEFAULT_IMPORTANCE}.",
        )
    context = protocol.EpisodeContext(
        where_location=body.where_location,
        who=body.who,
        why=body.why,
        how=body.how,
        emotional_valence=body.emotional_valence,
        importance=importance,
    )
    return protocol.MemoryIn(
        content=body.what,
        id=None if body.id is None else validate_memory_id(body.id),
        embedding=None if body.embedding is None else embedding_bytes(body.embedding),
        confidence=importance,
        observed_at=parse_timestamp(body.when, "when"),
        tags=body.tags or [],
        memory_type=body.memory_type,
        metadata=body.metadata or {},
        decay_rate=body.decay_rate,
        episode=context,
        auto_link=body.auto_link,
        link_threshold=body.link_threshold,
    )
