"""What a space knows about its memories besides their text and vectors: profiles, recall counts and associations.

Why a separate holder: ``workers/space.py`` keeps rows (which move when columns compact); everything here is keyed
by memory id, so it never follows a renumbering, and a memory's traits leave with it in one call (``drop``), which
is what keeps the association graph free of edges to deleted or replaced memories.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from engram.protocol import Link, MemoryRecord
from workers import decay
from workers.columns import Columns
from workers.graph import EpisodeIndex, Graph
from workers.profiles import decay_rate_of
from workers.records import LinkRecord, Profile, PutRecord

_NO_PROFILE = Profile()


class Traits:
    """Per-memory profiles and access counts, the association graph and the episode index of one space."""

    def __init__(self) -> None:
        self._profiles: dict[str, Profile] = {}
        self._decay_rates: dict[str, float] = {}
        self._accesses: Counter[str] = Counter()
        self.graph = Graph()
        self.episodes = EpisodeIndex()

    def put(self, record: PutRecord) -> None:
        """A memory was stored (its id is new, or its older version was dropped first)."""
        profile = record.profile or _NO_PROFILE
        self._profiles[record.id] = profile
        self._decay_rates[record.id] = decay_rate_of(record.profile)
        if profile.episode is not None:
            self.episodes.add(record.id, record.observed_at, profile.episode)

    def drop(self, memory_id: str) -> None:
        """A memory was deleted or is being replaced: it leaves the graph with every edge it had."""
        self._profiles.pop(memory_id, None)
        self._decay_rates.pop(memory_id, None)
        self._accesses.pop(memory_id, None)
        self.graph.remove(memory_id)
        self.episodes.remove(memory_id)

    def link(self, record: LinkRecord) -> bool:
        """Apply a logged edge; False (nothing applied) when an end is not a live memory of this space."""
        if record.source not in self._profiles or record.target not in self._profiles:
            return False
        self.graph.link(record.source, record.target, record.weight, record.kind)
        return True

    def reinforce(self, columns: Columns, memory_ids: list[str], touched_at: float) -> None:
        """Apply a logged reinforcement (workers/decay.py) to those of ``memory_ids`` that are still live."""
        for memory_id in memory_ids:
            row = columns.row_of.get(memory_id)
            if row is not None:
                columns.last_access[row] = touched_at
                columns.confidence[row] = decay.reinforced(float(columns.confidence[row]))
                self._accesses[memory_id] += 1

    def annotate(self, record: MemoryRecord, now: float | None) -> MemoryRecord:
        """``record`` (built from a live row) with its memory's traits; given ``now``, its current confidence."""
        profile, rate = self._profiles[record.id], self._decay_rates[record.id]
        record.kind = "memory" if profile.episode is None else "episode"
        record.access_count = self._accesses[record.id]
        record.decay_rate = rate
        record.tags = list(profile.tags)
        record.memory_type = profile.memory_type
        record.metadata = profile.metadata
        record.confidence_reasoning = profile.confidence_reasoning
        record.episode = profile.episode
        if now is not None:
            current = decay.current_confidence(record.confidence, rate, record.last_access, now)
            record.current_confidence = float(current)
        return record

    def profile(self, memory_id: str) -> Profile:
        """The profile of a live memory."""
        return self._profiles[memory_id]

    def access_counts(self, memory_ids: list[str]) -> list[int]:
        return [self._accesses[memory_id] for memory_id in memory_ids]

    @classmethod
    def restore(
        cls, memory_ids: list[str], observed_at: np.ndarray, profiles: list[Profile], access_counts: list[int]
    ) -> Traits:
        """The traits of live memories a snapshot saved (in row order, as a replay would have added them; the
        caller links the saved edges after)."""
        traits = cls()
        for memory_id, observed, profile, accesses in zip(
            memory_ids, observed_at.tolist(), profiles, access_counts, strict=True
        ):
            traits._profiles[memory_id] = profile
            traits._decay_rates[memory_id] = decay_rate_of(profile)
            if accesses:
                traits._accesses[memory_id] = accesses
            if profile.episode is not None:
                traits.episodes.add(memory_id, observed, profile.episode)
        return traits

    def decay_rates(self, memory_ids: list[str]) -> np.ndarray:
        return np.fromiter((self._decay_rates[i] for i in memory_ids), dtype=np.float64, count=len(memory_ids))

    def episode_links(self, memory_id: str) -> list[Link]:
        """The context and temporal links a just-stored episode forms (none for a plain memory)."""
        return self.episodes.links_of(memory_id)
