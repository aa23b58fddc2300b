"""What every JSON response shares: how it is written, and the original Engram's confidence object."""

from __future__ import annotations

from typing import Any

import falcon
import msgspec

from engram import protocol
from engram.api.conversions import rfc3339

_JSON = msgspec.json.Encoder()

HIGH_CONFIDENCE_ABOVE = 0.7
MEDIUM_CONFIDENCE_ABOVE = 0.4


class ConfidenceView(msgspec.Struct):
    """``{"value", "category", "reasoning"}`` as the original Engram reports confidences."""

    value: float
    category: str
    reasoning: str


def confidence_view(value: float, reasoning: str) -> ConfidenceView:
    """Categorise a confidence as the original does: High above 0.7, Medium above 0.4, else Low."""
    if value > HIGH_CONFIDENCE_ABOVE:
        category = "High"
    elif value > MEDIUM_CONFIDENCE_ABOVE:
        category = "Medium"
    else:
        category = "Low"
    return ConfidenceView(value, category, reasoning)


def send_json(resp: falcon.Response, body: msgspec.Struct, status: int = 200) -> None:
    """Write ``body`` as the JSON response (Structs encode directly; no dict round trip)."""
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = _JSON.encode(body)


class LinkView(msgspec.Struct):
    """An association edge as REST shows it: ``{"target", "weight", "kind"}`` (kinds: docs/memory-model.md)."""

    target: str
    weight: float
    kind: str


def link_views(links: list[protocol.Link]) -> list[LinkView]:
    return [LinkView(link.target, link.weight, link.kind) for link in links]


class MemoryFacets(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What every memory item (get, list, recall) says beyond the original's fields: ``kind`` ("memory" or
    "episode"), ``tags``, ``memory_type`` and ``metadata`` always; an episode's ``when`` ... ``importance`` only for
    episodes, and only those the client sent (``when``/``what`` always)."""

    kind: str
    tags: list[str]
    memory_type: str
    metadata: dict[str, str]
    when: str | None = None
    what: str | None = None
    where_location: str | None = None
    who: list[str] | None = None
    why: str | None = None
    how: str | None = None
    emotional_valence: float | None = None
    importance: float | None = None


def facets(record: protocol.MemoryRecord, default_memory_type: str) -> dict[str, Any]:
    """The ``MemoryFacets`` fields of a record, as keyword arguments for an item Struct that extends it."""
    fields: dict[str, Any] = {
        "kind": record.kind,
        "tags": record.tags,
        "memory_type": record.memory_type or default_memory_type,
        "metadata": record.metadata,
    }
    episode = record.episode
    if episode is not None:
        fields.update(
            when=rfc3339(record.observed_at),
            what=record.content,
            where_location=episode.where_location,
            who=episode.who,
            why=episode.why,
            how=episode.how,
            emotional_valence=episode.emotional_valence,
            importance=episode.importance,
        )
    return fields
