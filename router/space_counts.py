"""Active spaces per worker slot, for ``/health`` and ``status``, kept change by change.

Why not count on demand: the owner of a space is a rendezvous hash (router/placement.py), and hashing every id of a
100,000-space registry took 0.8 to 1.4 s on the reference machine (its LRU cache holds 65,536 owners), during which
the router's single loop forwarded nothing. A health probe after any create or delete paid that. Counting once at
start and then adjusting by each registry change (``Registry.listeners``) makes a probe O(workers).
"""

from __future__ import annotations

from router.placement import owner
from router.registry import Registry, SpaceEntry


class SpaceCounts:
    """The number of active spaces each of ``slots`` worker slots owns, following ``registry``'s changes."""

    def __init__(self, registry: Registry, slots: int) -> None:
        self._slots = slots
        self._counts = [0] * slots
        for entry in registry.entries():
            self._counts[owner(entry.id, slots)] += 1
        registry.listeners.append(self.changed)

    def changed(self, previous: SpaceEntry | None, entry: SpaceEntry) -> None:
        """One registry change: a space created (again), deleted, or its policy updated."""
        if previous is not None and not previous.deleted:
            self._counts[owner(previous.id, self._slots)] -= 1
        if not entry.deleted:
            self._counts[owner(entry.id, self._slots)] += 1

    @property
    def per_slot(self) -> list[int]:
        return list(self._counts)
