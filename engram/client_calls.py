"""Every native client operation as a value: what it sends, to which space, and what it returns.

``Client`` (threads) and ``AsyncClient`` (asyncio) run these same ``Call`` values over different transports, so each
operation's signature, defaults, conversions and documentation are written once, here, and can be checked without a
server. The docstrings are the client's manual: ``help(Client.remember)`` shows them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

import numpy as np
from msgspec import UNSET, UnsetType

from engram import protocol
from engram.archive import read_manifest
from engram.errors import EngramError, ErrorCode
from engram.protocol import (
    Associated,
    Consolidations,
    Deleted,
    Durability,
    EpisodeContext,
    ExportedSpace,
    Filters,
    Health,
    MemoryIn,
    MemoryPage,
    MemoryRecord,
    Pattern,
    RecallResult,
    SpaceCreated,
    SpaceDeleted,
    SpaceDetail,
    SpaceSummary,
    StoredMemory,
    SystemStatus,
)

T = TypeVar("T")

EMBEDDING_DTYPE = "<f4"
RECALL_MODES = protocol.RECALL_MODES
RecallMode = Literal["similarity", "spreading", "hybrid"]
Embedding = bytes | bytearray | memoryview | Sequence[float] | np.ndarray
"""An embedding as a client passes it: float32 bytes as the protocol carries them, or any 1-D sequence of numbers."""
Moment = float | datetime
"""A point in time: epoch seconds, or a timezone-aware datetime (a naive one would silently mean local time)."""


def _unchanged(result: Any) -> Any:
    return result


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request, the space it names (None: the client's default), and how to turn its result into ``T``.

    ``names_space`` is False for registry-wide operations (ping, list_spaces), whose header never carries a space.
    """

    request: protocol.Request
    space: str | None = None
    unwrap: Callable[[Any], T] = _unchanged
    names_space: bool = True

    def header_space(self, default: str | None) -> str | None:
        """The space to put in the header: the call's own, else the client's default, else None (the server's
        default-space fallback, or MISSING_MEMORY_SPACE when the server requires explicit spaces)."""
        if not self.names_space:
            return None
        return self.space if self.space is not None else default


# -- memories ----------------------------------------------------------------------------------------------------


def memory_in(
    content: str,
    *,
    id: str | None = None,
    embedding: Embedding | None = None,
    confidence: float = 0.7,
    observed_at: Moment | None = None,
    tags: Sequence[str] = (),
    metadata: dict[str, str] | None = None,
    memory_type: str | None = None,
    auto_link: bool = False,
    link_threshold: float = 0.7,
    episode: EpisodeContext | None = None,
) -> MemoryIn:
    """One memory for ``remember_batch``, with the same conversions ``remember`` applies (embedding to float32
    bytes, datetime to epoch seconds). Without ``embedding`` the server embeds the text; without ``id`` it picks one."""
    return MemoryIn(
        content=content,
        id=id,
        embedding=embedding_bytes(embedding),
        confidence=confidence,
        observed_at=epoch_s(observed_at, "observed_at"),
        tags=list(tags),
        memory_type=memory_type,
        metadata=dict(metadata or {}),
        episode=episode,
        auto_link=auto_link,
        link_threshold=link_threshold,
    )


def remember(
    content: str,
    *,
    id: str | None = None,
    embedding: Embedding | None = None,
    confidence: float = 0.7,
    observed_at: Moment | None = None,
    tags: Sequence[str] = (),
    metadata: dict[str, str] | None = None,
    memory_type: str | None = None,
    auto_link: bool = False,
    space: str | None = None,
) -> Call[StoredMemory]:
    """Remember one memory; returns its ``StoredMemory`` once it is fsynced to the space's log.

    Re-using an id replaces that memory (``replaced`` is then True). A space that does not exist yet is created.
    """
    memory = memory_in(
        content,
        id=id,
        embedding=embedding,
        confidence=confidence,
        observed_at=observed_at,
        tags=tags,
        metadata=metadata,
        memory_type=memory_type,
        auto_link=auto_link,
    )
    return Call(protocol.Remember([memory]), space, _first_stored)


def remember_batch(memories: Sequence[MemoryIn], *, space: str | None = None) -> Call[list[StoredMemory]]:
    """Remember many memories in ONE message: one round trip and one fsync for all of them, acknowledged together.

    Build each with ``memory_in(...)``. The server checks the whole batch first, so one bad memory stores none.
    """
    if not memories:
        raise EngramError(
            ErrorCode.INVALID_MEMORY_INPUT,
            "remember_batch needs at least one memory.",
            hint="Pass a non-empty list built with engram.client.memory_in(...).",
        )
    return Call(protocol.Remember(list(memories)), space, _all_stored)


def remember_episode(
    what: str,
    when: Moment,
    *,
    where_location: str | None = None,
    who: Sequence[str] | None = None,
    why: str | None = None,
    how: str | None = None,
    emotional_valence: float | None = None,
    importance: float = 0.5,
    id: str | None = None,
    embedding: Embedding | None = None,
    tags: Sequence[str] = (),
    metadata: dict[str, str] | None = None,
    auto_link: bool = False,
    space: str | None = None,
) -> Call[StoredMemory]:
    """Remember an episode: ``what`` happened ``when``, with optional where/who/why/how context.

    As in the original Engram, ``importance`` (default 0.5) becomes the episode's encoding confidence.
    """
    context = EpisodeContext(
        where_location=where_location,
        who=None if who is None else list(who),
        why=why,
        how=how,
        emotional_valence=emotional_valence,
        importance=importance,
    )
    memory = memory_in(
        what,
        id=id,
        embedding=embedding,
        confidence=importance,
        observed_at=when,
        tags=tags,
        metadata=metadata,
        auto_link=auto_link,
        episode=context,
    )
    return Call(protocol.Remember([memory]), space, _first_stored)


def recall(
    query: str | None = None,
    *,
    embedding: Embedding | None = None,
    threshold: float = 0.5,
    max_results: int = 10,
    mode: RecallMode = "hybrid",
    max_depth: int = 3,
    time_budget_ms: float = 10.0,
    trace: bool = False,
    filters: Filters | None = None,
    space: str | None = None,
) -> Call[RecallResult]:
    """Recall by text, by embedding, or both; hits at or above ``threshold``, best first, at most ``max_results``.

    ``mode``: "similarity" ranks by the cue alone, "spreading" by activation spread along association edges from the
    similarity hits, "hybrid" blends both. A space that does not exist answers with no hits (and is not created).
    """
    if mode not in RECALL_MODES:
        raise EngramError(
            ErrorCode.INVALID_MEMORY_INPUT,
            f"Unknown recall mode {mode!r}; expected one of {', '.join(RECALL_MODES)}.",
            hint="Use mode='hybrid' (the default) unless you need pure similarity or pure spreading.",
        )
    request = protocol.Recall(
        query=query,
        embedding=embedding_bytes(embedding),
        threshold=threshold,
        max_results=max_results,
        mode=mode,
        max_depth=max_depth,
        time_budget_ms=time_budget_ms,
        trace=trace,
        filters=filters,
    )
    return Call(request, space)


def get_memory(id: str, *, space: str | None = None) -> Call[MemoryRecord]:
    """One memory by id, with its embedding; MEMORY_NOT_FOUND when the space holds no such memory."""
    return Call(protocol.GetMemory(id), space)


def delete_memory(id: str, *, space: str | None = None) -> Call[Deleted]:
    """Delete a memory for good (from recall, list and search, durably); MEMORY_NOT_FOUND if there is none."""
    return Call(protocol.DeleteMemory(id), space)


def list_memories(
    offset: int = 0,
    limit: int = 100,
    filters: Filters | None = None,
    *,
    include_embeddings: bool = False,
    space: str | None = None,
) -> Call[MemoryPage]:
    """A page of the space's memories (``total`` counts all that pass ``filters``); page with ``offset``."""
    return Call(protocol.ListMemories(offset, limit, include_embeddings, filters), space)


def search(
    query: str, limit: int = 10, *, filters: Filters | None = None, space: str | None = None
) -> Call[MemoryPage]:
    """Memories whose content holds the query's words, best coverage first."""
    return Call(protocol.Search(query, limit, filters), space)


def associate(source: str, target: str, weight: float = 1.0, *, space: str | None = None) -> Call[Associated]:
    """Link two memories of one space explicitly; spreading activation travels along the link."""
    return Call(protocol.Associate(source, target, weight), space)


def consolidate(
    *, similarity_threshold: float | None = None, min_cluster_size: int | None = None, space: str | None = None
) -> Call[Consolidations]:
    """Run a consolidation pass now: similar episodes become semantic patterns citing them. Returns all patterns."""
    return Call(protocol.Consolidate(similarity_threshold, min_cluster_size), space)


def consolidations(*, max_patterns: int = 100, space: str | None = None) -> Call[Consolidations]:
    """The space's semantic patterns from its last consolidation pass, with citations back to their episodes."""
    return Call(protocol.ListConsolidations(max_patterns), space)


def consolidation(id: str, *, space: str | None = None) -> Call[Pattern]:
    """One semantic pattern by id; CONSOLIDATION_NOT_FOUND when there is none."""
    return Call(protocol.GetConsolidation(id), space)


# -- spaces and the server ---------------------------------------------------------------------------------------


def create_space(
    id: str,
    dim: int | None = None,
    *,
    durability: Durability | None = None,
    durability_interval_ms: int | None = None,
    max_memories: int | None = None,
    max_bytes: int | None = None,
    max_rps: float | None = None,
) -> Call[SpaceCreated]:
    """Create a space, or get it if it exists (``created`` says which). ``dim`` defaults to the server's (768);
    asking for another dimension than an existing space's is DIMENSION_CONFLICT. A deleted space is created again,
    empty.

    The policy of a new space: ``durability`` "fsync" (the server's default_durability unless given), "interval"
    (fsynced every ``durability_interval_ms``, default 50) or "none" (docs/durability.md); quotas ``max_memories``,
    ``max_bytes`` and ``max_rps`` (None: no limit). An existing space keeps its policy: change it with
    ``update_space``. Creating beyond the server's max_spaces is SPACE_LIMIT_REACHED."""
    given = {
        "durability": durability,
        "durability_interval_ms": durability_interval_ms,
        "max_memories": max_memories,
        "max_bytes": max_bytes,
        "max_rps": max_rps,
    }
    policy = {name: value for name, value in given.items() if value is not None}
    return Call(protocol.CreateSpace(dim, protocol.SpacePolicyPatch(**policy) if policy else None), id)


def update_space(
    id: str,
    *,
    durability: Durability | UnsetType = UNSET,
    durability_interval_ms: int | UnsetType = UNSET,
    max_memories: int | None | UnsetType = UNSET,
    max_bytes: int | None | UnsetType = UNSET,
    max_rps: float | None | UnsetType = UNSET,
) -> Call[SpaceSummary]:
    """Change a space's policy; returns the space with its new policy. Only the arguments given change: pass a
    quota as None to lift it. MEMORY_SPACE_NOT_FOUND for an unknown space, MEMORY_SPACE_DELETED for a deleted one."""
    patch = protocol.SpacePolicyPatch(
        durability=durability,
        durability_interval_ms=durability_interval_ms,
        max_memories=max_memories,
        max_bytes=max_bytes,
        max_rps=max_rps,
    )
    return Call(protocol.UpdateSpace(patch), id)


def delete_space(id: str) -> Call[SpaceDeleted]:
    """Delete a space and every memory in it. From the reply on, every request to it is MEMORY_SPACE_DELETED, until
    ``create_space`` creates it again, empty; its files are removed in the background. MEMORY_SPACE_NOT_FOUND for an
    unknown space; deleting a deleted space is MEMORY_SPACE_DELETED."""
    return Call(protocol.DeleteSpace(), id)


def export_space(id: str) -> Call[ExportedSpace]:
    """The space as one archive (``.archive`` bytes: a tar with a checksummed manifest; write it to a file as is)
    and its memory count. MEMORY_SPACE_NOT_FOUND for an unknown space."""
    return Call(protocol.ExportSpace(), id)


def import_space(archive: bytes, as_space: str) -> Call[SpaceCreated]:
    """Create ``as_space`` from an archive ``export_space`` made. The server verifies all of it first: a damaged
    archive is INVALID_ARCHIVE and creates nothing; MEMORY_SPACE_EXISTS when ``as_space`` exists."""
    return Call(protocol.ImportSpace(bytes(archive), read_manifest(archive).dim), as_space)


def get_space(id: str) -> Call[SpaceDetail]:
    """A space's dimension, policy, memory count and owning worker; MEMORY_SPACE_NOT_FOUND when it does not exist,
    MEMORY_SPACE_DELETED when it was deleted."""
    return Call(protocol.GetSpace(), id)


def list_spaces(*, include_deleted: bool = False) -> Call[list[SpaceSummary]]:
    """Every space, sorted by id; deleted ones (``state`` "deleted") too with ``include_deleted``."""
    return Call(protocol.ListSpaces(include_deleted), unwrap=_spaces, names_space=False)


def status(space: str | None = None) -> Call[SystemStatus]:
    """Measured status: every active space (memories, pressure, log lag, consolidation backlog, state, worker) and
    every worker; with ``space``, only that space, loaded by its worker so its figures are exact
    (MEMORY_SPACE_NOT_FOUND when it does not exist, MEMORY_SPACE_DELETED when it was deleted). Without ``space`` the
    client's default space is *not* applied: the answer covers every space."""
    return Call(protocol.Status(), space, names_space=space is not None)


def ping() -> Call[Health]:
    """The router's health: "ok" when every worker is ready, with each worker's state and space count."""
    return Call(protocol.Ping(), names_space=False)


# -- conversions -------------------------------------------------------------------------------------------------


def embedding_bytes(embedding: Embedding | None) -> bytes | None:
    """float32 bytes of an embedding (bytes pass through: they are already what the protocol carries)."""
    if embedding is None:
        return None
    if isinstance(embedding, bytes | bytearray | memoryview):
        return bytes(embedding)
    try:
        with np.errstate(over="ignore"):  # an out-of-range value becomes inf, which the server names in its error
            vector = np.asarray(embedding, dtype=EMBEDDING_DTYPE)
    except (TypeError, ValueError):
        vector = None
    if vector is None or vector.ndim != 1 or vector.size == 0:
        raise EngramError(
            ErrorCode.INVALID_MEMORY_INPUT,
            "An embedding must be float32 bytes or a non-empty 1-D sequence of numbers.",
            hint="Pass one vector, e.g. [0.1, 0.2, ...] or a 1-D numpy array, of the space's dimension.",
        )
    return vector.tobytes()


def epoch_s(moment: Moment | None, field: str) -> float | None:
    """Epoch seconds of a moment; a naive datetime is refused, as REST refuses a timestamp without an offset."""
    if moment is None or not isinstance(moment, datetime):
        return moment
    if moment.tzinfo is None:
        raise EngramError(
            ErrorCode.INVALID_MEMORY_INPUT,
            f"{field} is a naive datetime; it needs a timezone to name one instant.",
            hint="Use e.g. datetime.now(timezone.utc), or pass epoch seconds.",
        )
    return moment.timestamp()


def _first_stored(result: protocol.Remembered) -> StoredMemory:
    return result.memories[0]


def _all_stored(result: protocol.Remembered) -> list[StoredMemory]:
    return result.memories


def _spaces(result: protocol.SpaceList) -> list[SpaceSummary]:
    return result.spaces
