"""The quotas on what a space holds, ``max_memories`` and ``max_bytes``: checked by its worker before a remember.

Only the worker knows what a space holds, so these two quotas live here (the router enforces ``max_rps`` and
``max_spaces``). A remember is checked as a whole, before anything of it is logged: either every memory of the batch
fits, or none is stored and the client gets 429 QUOTA_EXCEEDED. Counting:

- ``max_memories`` counts live memories. A memory whose id is live already replaces it and adds nothing; a batch
  that names one new id twice adds it once.
- ``max_bytes`` counts approximate stored bytes (``Space.stored_bytes``: content, embedding, tags and metadata of
  the live memories). A batch adds the size of every memory it holds, replacements included (conservative: a
  replacement never lets a full space grow).

Deleting memories makes room at once; the quota itself is changed with ``update_space`` (PATCH).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engram.errors import EngramError, ErrorCode
from engram.protocol import MemoryIn, SpacePolicy

if TYPE_CHECKING:
    from workers.space import Space

QUOTA_RETRY_AFTER_S = 60.0
"""What a full space tells a client to wait: room appears only when memories are deleted or the quota raised."""
EMBEDDING_BYTES_PER_DIM = 4  # float32


def check_remember(space_id: str, policy: SpacePolicy, space: Space, memories: list[MemoryIn]) -> None:
    """Raise QUOTA_EXCEEDED when storing ``memories`` would take the space past ``max_memories`` or ``max_bytes``."""
    if policy.max_memories is not None:
        after = space.count + new_memories(space, memories)
        if after > policy.max_memories:
            raise _exceeded(
                space_id,
                f"Memory space '{space_id}' holds {space.count} of at most {policy.max_memories} memories; "
                f"this request would take it to {after}.",
                "max_memories",
                policy.max_memories,
            )
    if policy.max_bytes is not None:
        stored = stored_bytes(space)
        incoming = sum(memory_bytes(memory, space.dim) for memory in memories)
        if stored + incoming > policy.max_bytes:
            raise _exceeded(
                space_id,
                f"Memory space '{space_id}' stores about {stored} of at most {policy.max_bytes} bytes; this "
                f"request adds about {incoming}.",
                "max_bytes",
                policy.max_bytes,
            )


def new_memories(space: Space, memories: list[MemoryIn]) -> int:
    """How many live memories storing ``memories`` adds: ids the space holds already are replaced, not added."""
    live = space.index.columns.row_of
    named: set[str] = set()
    added = 0
    for memory in memories:
        if memory.id is None:
            added += 1
        elif memory.id not in named:
            named.add(memory.id)
            added += memory.id not in live
    return added


def memory_bytes(memory: MemoryIn, dim: int) -> int:
    """Approximate bytes one memory takes when stored: the unit ``max_bytes`` counts in. Equal to what
    ``Space.stored_bytes`` adds for it once stored (workers/footprint.py), so the check and the total agree."""
    size = len(memory.content.encode()) + EMBEDDING_BYTES_PER_DIM * dim
    size += sum(len(tag.encode()) for tag in memory.tags)
    size += sum(len(key.encode()) + len(value.encode()) for key, value in memory.metadata.items())
    return size


def stored_bytes(space: Space) -> int:
    """The space's approximate stored bytes (``Space.stored_bytes``)."""
    return int(space.stored_bytes)


def _exceeded(space_id: str, message: str, quota: str, limit: int) -> EngramError:
    return EngramError(
        ErrorCode.QUOTA_EXCEEDED,
        message,
        hint=f"Delete memories of '{space_id}', or raise its quota: PATCH /api/v1/spaces/{space_id} "
        f'{{"{quota}": {limit * 2}}} (or engram space update {space_id} --{quota.replace("_", "-")} N).',
        retry_after_s=QUOTA_RETRY_AFTER_S,
    )
