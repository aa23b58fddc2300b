"""Which worker owns a space: rendezvous (highest random weight) hashing over worker slots.

Every space goes to the slot with the highest hash of (space, slot). Adding or removing a slot moves only the spaces
whose winner changes (about 1/N of them), and every router computes the same answer without shared state.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache


def _weight(space: str, slot: int) -> int:
    digest = hashlib.blake2b(f"{space}\x00{slot}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@lru_cache(maxsize=131072)  # above the default max_spaces (100,000): a recount of every space stays a cache hit
def owner(space: str, slots: int) -> int:
    """The worker slot (0..slots-1) that owns ``space``."""
    if slots < 1:
        raise ValueError("at least one worker slot is needed")
    return max(range(slots), key=lambda slot: _weight(space, slot))
