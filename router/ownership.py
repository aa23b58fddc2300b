"""Which worker slot owns each active space, and how many spaces each slot owns, kept change by change.

Why not compute them on demand: the owner of a space is a rendezvous hash (router/placement.py), and hashing every id
of a 100,000-space registry took 0.8 to 1.4 s on the reference machine (the hash's LRU cache holds 65,536 owners),
during which the router's single loop forwarded nothing. ``/health`` (the spaces per worker) paid that after any
create or delete, and ``status`` (every space with its owner) on every call. Hashing each id once, at start or when
it is created, and following each registry change (``Registry.listeners``) makes a health probe O(workers) and a
status listing O(spaces) in dictionary lookups. The price is one dictionary entry per active space (about 10 MB of
the router's memory at 100,000 spaces).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from router.placement import owner
from router.registry import Registry, SpaceEntry


class Ownership:
    """The owner slot of every active space of ``registry`` among ``slots`` worker slots, following its changes."""

    def __init__(self, registry: Registry, slots: int) -> None:
        self._slots = slots
        self._owners = {entry.id: owner(entry.id, slots) for entry in registry.entries()}
        self._counts = [0] * slots
        for slot in self._owners.values():
            self._counts[slot] += 1
        registry.listeners.append(self.changed)

    def changed(self, previous: SpaceEntry | None, entry: SpaceEntry) -> None:
        """One registry change: a space created (again), deleted, or its policy updated."""
        if previous is not None and not previous.deleted:
            self._counts[self._owners.pop(previous.id)] -= 1
        if not entry.deleted:
            slot = self._owners[entry.id] = owner(entry.id, self._slots)
            self._counts[slot] += 1

    @property
    def per_slot(self) -> list[int]:
        """The number of active spaces each slot owns."""
        return list(self._counts)

    @property
    def owners(self) -> Mapping[str, int]:
        """Active space id -> its owner slot (a read-only view that follows the changes)."""
        return MappingProxyType(self._owners)
