"""Which spaces a worker keeps in memory, and how cold the files of the ones it does not should get.

Why a policy of its own: a worker owns far more spaces than it can hold loaded (DESIGN §7), so it offloads a space
nobody used for ``idle_offload_s`` and, whenever more than ``max_resident_spaces`` are loaded, the least recently
used beyond that bound; the index files of an offloaded space then move to ``warm/`` after ``warm_after_s`` and to
``cold/`` after ``cold_after_s`` without use (workers/tiers.py). This class only decides: it does no I/O and reads
no clock, so it is tested exhaustively, and the worker loop does the snapshot, close, demote and promote it asks
for, then reports back (``offloaded``, ``demoted``).

Order: least recently used first, ties by space id, so what ``to_offload`` chooses is always a prefix of the LRU
order: a space is never chosen while one used earlier stays loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from workers.tiers import Tier

_DEPTH: dict[Tier, int] = {"hot": 0, "warm": 1, "cold": 2}


@dataclass(frozen=True)
class ResidencyLimits:
    idle_offload_s: float
    max_resident_spaces: int
    warm_after_s: float
    cold_after_s: float


class Residency:
    """Last use of every space a worker knows: loaded ones, and offloaded ones with their tier."""

    def __init__(self, limits: ResidencyLimits) -> None:
        self.limits = limits
        self._loaded: dict[str, float] = {}  # space -> last use
        self._offloaded: dict[str, tuple[float, Tier]] = {}  # space -> (last use, tier of its index files)

    # -- what the worker tells ---------------------------------------------------------------------------------

    def used(self, space_id: str, now: float) -> None:
        """A request used the space (which is loaded now, whether it was before or not)."""
        self._offloaded.pop(space_id, None)
        last_used = self._loaded.pop(space_id, now)  # moved to the end: the dict stays in order of last use
        self._loaded[space_id] = max(now, last_used)

    def offloaded(self, space_id: str) -> None:
        """The space was snapshotted and closed; its files are still hot. Its last use is kept for demotion."""
        last_used = self._loaded.pop(space_id, None)
        if last_used is not None:
            self._offloaded[space_id] = (last_used, "hot")

    def known_on_disk(self, space_id: str, last_used: float, tier: Tier) -> None:
        """A space a restarted worker owns but has not loaded. ``last_used`` is on the clock ``used`` is given
        (with ``time.monotonic``: now minus the age of the space's newest log file, say)."""
        if space_id not in self._loaded:
            self._offloaded[space_id] = (last_used, tier)

    def demoted(self, space_id: str, tier: Tier) -> None:
        """The space's index files are in ``tier`` now."""
        if space_id in self._offloaded:
            self._offloaded[space_id] = (self._offloaded[space_id][0], tier)

    def forget(self, space_id: str) -> None:
        """The space was deleted (or moved to another worker)."""
        self._loaded.pop(space_id, None)
        self._offloaded.pop(space_id, None)

    # -- what it answers -----------------------------------------------------------------------------------------

    @property
    def loaded(self) -> list[str]:
        return list(self._loaded)

    def tier(self, space_id: str) -> Tier | None:
        """The tier of an offloaded space's index files (None for a loaded or unknown space)."""
        entry = self._offloaded.get(space_id)
        return None if entry is None else entry[1]

    def to_offload(self, now: float) -> list[str]:
        """Loaded spaces to offload, least recently used first: every one idle longer than ``idle_offload_s``,
        and more while more than ``max_resident_spaces`` would stay loaded. Looks at the spaces it names and one
        more, not at every loaded space: the loop asks every second."""
        excess = self.over_cap()
        chosen = []
        for space_id, last_used in self._loaded.items():  # least recently used first (``used``)
            if len(chosen) >= excess and now - last_used <= self.limits.idle_offload_s:
                break  # every later one was used more recently still
            chosen.append(space_id)
        return chosen

    def over_cap(self) -> int:
        """How many loaded spaces are over ``max_resident_spaces``: the first ones ``to_offload`` names."""
        return max(0, len(self._loaded) - self.limits.max_resident_spaces)

    def to_demote(self, now: float) -> list[tuple[str, Tier]]:
        """Offloaded spaces whose index files should move to a colder tier, with that tier, least recently used
        first. O(offloaded spaces): call it about once a minute, not per request."""
        limits = self.limits
        due = []
        for space_id, (last_used, tier) in self._offloaded.items():
            idle = now - last_used
            target: Tier | None = None
            if idle > limits.cold_after_s:
                target = "cold"
            elif idle > limits.warm_after_s:
                target = "warm"
            if target is not None and _DEPTH[target] > _DEPTH[tier]:
                due.append((last_used, space_id, target))
        due.sort()
        return [(space_id, target) for _, space_id, target in due]
