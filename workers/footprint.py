"""How many bytes a stored memory takes, in the unit of the ``max_bytes`` quota (workers/quotas.py).

Why approximate and why this formula: the quota must be cheap to keep (one number per space, updated on every put
and drop, restored by a snapshot or a replay) and must mean the same before and after a write, so it counts what the
client sent and the space keeps: the content's UTF-8 bytes, the float32 embedding, tags and metadata. It equals
``workers.quotas.memory_bytes`` of the ``MemoryIn`` the memory was stored from, so a check before a remember and
the space's total after it agree.
"""

from __future__ import annotations

from workers.records import Profile

EMBEDDING_BYTES_PER_DIM = 4  # float32


def stored_bytes_of(content: str, dim: int, profile: Profile | None) -> int:
    size = len(content.encode()) + EMBEDDING_BYTES_PER_DIM * dim
    if profile is not None:
        size += sum(len(tag.encode()) for tag in profile.tags)
        size += sum(len(key.encode()) + len(value.encode()) for key, value in profile.metadata.items())
    return size
