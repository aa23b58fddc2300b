"""Request bodies: JSON decoded straight into typed Structs, so the type is the validation.

A body that is not JSON, not the declared shape or too large is rejected here, before anything is sent to the
router, with msgspec's path-specific message (e.g. "Expected `str`, got `int` - at `$.content`"). Unknown
fields are ignored, as the original Engram's serde structs ignore them.
"""

from __future__ import annotations

import functools
from typing import Annotated, Literal, TypeVar

import falcon
import msgspec

from engram.api.filters import FilterBody
from engram.config import ABSOLUTE_MAX_DIM
from engram.errors import EngramError, ErrorCode
from engram.protocol import SpacePolicyPatch

MAX_BODY_BYTES = 1024 * 1024
MAX_RECALL_RESULTS = 1000

T = TypeVar("T", bound=msgspec.Struct)


class RememberBody(msgspec.Struct, kw_only=True):
    """The original ``RememberMemoryRequest``, plus ``metadata`` and ``decay_rate`` (per hour). Everything is stored
    and returned; ``auto_link`` links the memory to the most similar ones at or above ``link_threshold``.
    """

    content: str
    id: str | None = None
    embedding: list[float] | None = None
    confidence: float = 0.7
    timestamp: str | None = None
    memory_space_id: str | None = None
    confidence_reasoning: str | None = None
    tags: list[str] | None = None
    memory_type: str | None = None
    metadata: dict[str, str] | None = None
    decay_rate: float | None = None
    auto_link: bool = False
    link_threshold: float = 0.7


class CreateSpaceBody(SpacePolicyPatch, kw_only=True):
    """A space to create, with its policy flat beside ``id`` and ``dim``: fields left out take the server's defaults
    (engram.protocol.SpacePolicy)."""

    id: str
    dim: Annotated[int, msgspec.Meta(ge=1, le=ABSOLUTE_MAX_DIM)] | None = None


class UpdateSpaceBody(SpacePolicyPatch, kw_only=True, forbid_unknown_fields=True):
    """PATCH of a space's policy, merge-patch style: a field left out keeps its value, a quota set to null is lifted.
    An unknown field is a 400 (a misspelt quota must not look applied)."""


class RecallInput(msgspec.Struct, kw_only=True):
    """Recall parameters: the body of POST recall and, field for field, the query string of GET recall (where
    ``embedding`` is a JSON array string, decoded separately)."""

    query: str | None = None
    embedding: list[float] | None = None
    threshold: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.5
    max_results: Annotated[int, msgspec.Meta(ge=1, le=MAX_RECALL_RESULTS)] = 10
    include_metadata: bool = False
    trace_activation: bool = False
    mode: Literal["similarity", "spreading", "hybrid"] = "hybrid"
    max_depth: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] = 3  # int64 for the protocol; worker bounds it tighter
    time_budget_ms: float = 10.0
    memory_space_id: str | None = None
    filters: FilterBody | None = None  # POST only; GET takes the filter query parameters (engram.api.filters)


def read_body(req: falcon.Request, body_type: type[T]) -> T:
    """Decode the request's JSON body as ``body_type`` or raise the 4xx that says what is wrong with it."""
    if not _is_json(req.content_type):
        raise EngramError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"Unsupported content type '{req.content_type or ''}'; request bodies are JSON.",
            hint="Send the header 'Content-Type: application/json'.",
        )
    if req.content_length is not None and req.content_length > MAX_BODY_BYTES:
        raise _too_large()
    raw = req.bounded_stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise _too_large()
    try:
        return _decoder(body_type).decode(raw)
    except msgspec.DecodeError as exc:
        raise EngramError(
            ErrorCode.BAD_REQUEST,
            f"Invalid request body: {exc}",
            hint="Send a JSON object with the fields this route documents.",
        ) from None


def _is_json(content_type: str | None) -> bool:
    """application/json or any ``+json`` type, whatever its parameters (charset)."""
    essence = (content_type or "").split(";", 1)[0].strip().lower()
    return essence == "application/json" or essence.endswith("+json")


@functools.cache
def _decoder(body_type: type[T]) -> msgspec.json.Decoder[T]:
    return msgspec.json.Decoder(body_type)


def _too_large() -> EngramError:
    return EngramError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"Request body exceeds {MAX_BODY_BYTES} bytes.",
        hint="Send fewer or smaller memories per request.",
    )
