"""The association graph of one space: weighted, symmetric edges between its memories, and the rules that form them.

Why symmetric: association in memory works both ways (recalling a place brings back the people met there and the
other way round), and it makes removal exact: a memory's edges are all found from the memory itself.

An edge between two memories keeps one weight per kind, and spreading uses the strongest. Kinds and rules:

- ``explicit``: ``associate`` (REST ``POST .../associations``), with the weight the client gives, in (0, 1].
- ``similarity``: a memory remembered with ``auto_link`` links to the ``AUTO_LINK_MAX_LINKS`` most similar live
  memories whose cosine similarity is at least its ``link_threshold``; the weight is that similarity.
- ``episode`` (shared context): an episode links to episodes at the same ``where_location`` or with a person in
  common in ``who`` (both compared trimmed and case-insensitively). Weight ``0.5 * same_place + 0.5 * Jaccard(who)``;
  the ``CONTEXT_MAX_LINKS`` strongest, closest in time first, among the ``CONTEXT_SCAN_LIMIT`` latest episodes
  sharing each place or person (a bound, so a popular place never makes a remember scan the whole space).
- ``temporal``: an episode links to the ``TEMPORAL_MAX_LINKS`` episodes observed closest to it within
  ``TEMPORAL_WINDOW_S`` (±1 h, the window of the original's temporal boost); weight
  ``TEMPORAL_MAX_WEIGHT * (1 - |dt| / window)``.

Only episodes form context and temporal edges: they carry a real ``when``, while a plain memory's time is usually
just when it was stored, which would link every memory written in the same hour.

Edges are logged (``LinkRecord``) when formed and replayed with the space; a deleted or replaced memory loses all
its edges (``remove``), so spreading never walks to a memory that is gone. Everything here is per space: a graph
holds only ids of its own space.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from engram.protocol import EpisodeContext, Link

AUTO_LINK_MAX_LINKS = 5
CONTEXT_MAX_LINKS = 5
CONTEXT_SCAN_LIMIT = 256
TEMPORAL_MAX_LINKS = 5
TEMPORAL_WINDOW_S = 3600.0
TEMPORAL_MAX_WEIGHT = 0.5
PLACE_WEIGHT = 0.5
PEOPLE_WEIGHT = 0.5

EXPLICIT, SIMILARITY, EPISODE, TEMPORAL = "explicit", "similarity", "episode", "temporal"
KINDS = (EXPLICIT, SIMILARITY, EPISODE, TEMPORAL)


class Graph:
    """Edges keyed by memory id: ``id -> neighbour -> kind -> weight``, mirrored in both directions."""

    def __init__(self) -> None:
        self._edges: dict[str, dict[str, dict[str, float]]] = {}

    def link(self, a: str, b: str, weight: float, kind: str) -> None:
        """Set the ``kind`` weight of the edge a–b (replacing an earlier weight of that kind)."""
        if a == b:
            raise ValueError(f"a memory cannot be associated with itself ({a!r})")
        if not 0.0 < weight <= 1.0:
            raise ValueError(f"edge weight must be in (0, 1], got {weight}")
        self._edges.setdefault(a, {}).setdefault(b, {})[kind] = weight
        self._edges.setdefault(b, {}).setdefault(a, {})[kind] = weight

    def remove(self, memory_id: str) -> None:
        """Drop a memory and every edge that touches it."""
        for neighbour in self._edges.pop(memory_id, {}):
            edges = self._edges[neighbour]
            del edges[memory_id]
            if not edges:
                del self._edges[neighbour]

    def neighbours(self, memory_id: str) -> list[tuple[str, float]]:
        """Each neighbour with the strongest weight of its edge, strongest first (ties by id, so it is stable)."""
        found = [(other, max(kinds.values())) for other, kinds in self._edges.get(memory_id, {}).items()]
        found.sort(key=lambda item: (-item[1], item[0]))
        return found

    def links(self, memory_id: str) -> list[Link]:
        """Every edge of a memory, one per kind, strongest first."""
        found = [
            Link(other, weight, kind)
            for other, kinds in self._edges.get(memory_id, {}).items()
            for kind, weight in kinds.items()
        ]
        found.sort(key=lambda link: (-link.weight, link.target, link.kind))
        return found

    def edges(self) -> list[tuple[str, str, str, float]]:
        """Every edge once, as ``(a, b, kind, weight)`` (for a snapshot; ``link`` each to rebuild the graph)."""
        return [
            (a, b, kind, weight)
            for a, neighbours in self._edges.items()
            for b, kinds in neighbours.items()
            if a < b
            for kind, weight in kinds.items()
        ]

    def __contains__(self, memory_id: object) -> bool:
        return memory_id in self._edges

    @property
    def edge_count(self) -> int:
        """Edges between distinct pairs (an edge with several kinds counts once)."""
        return sum(len(neighbours) for neighbours in self._edges.values()) // 2


def strongest_similar(ids: list[str], rows: np.ndarray, similarity: np.ndarray, threshold: float) -> list[Link]:
    """Similarity links of a new memory from candidate ``rows`` (live, not the memory itself) and their
    ``similarity``: the ``AUTO_LINK_MAX_LINKS`` most similar at or above ``threshold`` (and above 0), most similar
    first, earlier rows first on ties; ``ids`` names the rows."""
    keep = (similarity >= threshold) & (similarity > 0.0)
    rows, similarity = rows[keep], similarity[keep]
    order = np.lexsort((rows, -similarity))[:AUTO_LINK_MAX_LINKS]
    return [Link(ids[rows[i]], min(1.0, float(similarity[i])), SIMILARITY) for i in order]


class _Context(NamedTuple):
    observed_at: float
    place: str | None
    people: frozenset[str]


def _key(text: str | None) -> str | None:
    key = (text or "").strip().casefold()
    return key or None


def _context_of(observed_at: float, episode: EpisodeContext) -> _Context:
    people = frozenset(key for key in (_key(name) for name in episode.who or []) if key is not None)
    return _Context(observed_at, _key(episode.where_location), people)


class EpisodeIndex:
    """The episodes of a space by time, place and person, to find the ones a new episode should link to."""

    def __init__(self) -> None:
        self._contexts: dict[str, _Context] = {}
        self._by_time: list[tuple[float, str]] = []
        # dicts as insertion-ordered sets: the latest episodes of a place or person are at the end.
        self._by_place: dict[str, dict[str, None]] = {}
        self._by_person: dict[str, dict[str, None]] = {}

    def __len__(self) -> int:
        return len(self._contexts)

    def __contains__(self, memory_id: object) -> bool:
        return memory_id in self._contexts

    def ids(self) -> Iterator[str]:
        return iter(self._contexts)

    def latest(self, count: int) -> list[str]:
        """The ids of the ``count`` episodes observed last, oldest first."""
        return [memory_id for _observed_at, memory_id in self._by_time[-count:]] if count > 0 else []

    def add(self, memory_id: str, observed_at: float, episode: EpisodeContext) -> None:
        context = _context_of(observed_at, episode)
        self._contexts[memory_id] = context
        bisect.insort(self._by_time, (observed_at, memory_id))
        for key, index in self._keys(context):
            index.setdefault(key, {})[memory_id] = None

    def remove(self, memory_id: str) -> None:
        context = self._contexts.pop(memory_id, None)
        if context is None:
            return
        at = bisect.bisect_left(self._by_time, (context.observed_at, memory_id))
        del self._by_time[at]
        for key, index in self._keys(context):
            members = index[key]
            del members[memory_id]
            if not members:
                del index[key]

    def _keys(self, context: _Context) -> list[tuple[str, dict[str, dict[str, None]]]]:
        keys = [(person, self._by_person) for person in context.people]
        if context.place is not None:
            keys.append((context.place, self._by_place))
        return keys

    def links_of(self, memory_id: str) -> list[Link]:
        """The context and temporal links an indexed episode forms with the other indexed episodes."""
        context = self._contexts.get(memory_id)
        if context is None:
            return []
        return self._context_links(memory_id, context) + self._temporal_links(memory_id, context)

    def _context_links(self, memory_id: str, context: _Context) -> list[Link]:
        candidates: set[str] = set()
        for key, index in self._keys(context):
            members = index.get(key, {})
            candidates.update(itertools.islice(reversed(members), CONTEXT_SCAN_LIMIT))
        candidates.discard(memory_id)
        scored = []
        for other_id in candidates:
            other = self._contexts[other_id]
            weight = context_weight(context.place, context.people, other.place, other.people)
            if weight > 0.0:
                scored.append((-weight, abs(other.observed_at - context.observed_at), other_id, weight))
        scored.sort()
        return [Link(other_id, weight, EPISODE) for _, _, other_id, weight in scored[:CONTEXT_MAX_LINKS]]

    def _temporal_links(self, memory_id: str, context: _Context) -> list[Link]:
        """Walk outwards from the episode's place in time order, nearest first, so the cost is bounded by
        ``TEMPORAL_MAX_LINKS`` however many episodes share the hour."""
        at = bisect.bisect_left(self._by_time, (context.observed_at, memory_id))
        before, after = at - 1, at + 1
        found: list[Link] = []
        while len(found) < TEMPORAL_MAX_LINKS:
            gap_before = context.observed_at - self._by_time[before][0] if before >= 0 else None
            gap_after = self._by_time[after][0] - context.observed_at if after < len(self._by_time) else None
            if gap_before is None and gap_after is None:
                break
            if gap_after is None or (gap_before is not None and gap_before <= gap_after):
                gap, other_id, before = gap_before, self._by_time[before][1], before - 1
            else:
                gap, other_id, after = gap_after, self._by_time[after][1], after + 1
            weight = temporal_weight(gap)  # type: ignore[arg-type]
            if weight <= 0.0:
                break  # nearest first: every later candidate is further away
            found.append(Link(other_id, weight, TEMPORAL))
        return found


def context_weight(place: str | None, people: frozenset[str], other_place: str | None, other: frozenset[str]) -> float:
    """How much two episodes share: half for the same place, half scaled by the overlap of the people present."""
    same_place = place is not None and place == other_place
    union = people | other
    overlap = len(people & other) / len(union) if union else 0.0
    return PLACE_WEIGHT * same_place + PEOPLE_WEIGHT * overlap


def temporal_weight(gap_s: float) -> float:
    """Linear proximity within the window: ``TEMPORAL_MAX_WEIGHT`` at the same instant, 0 at the window's edge."""
    return TEMPORAL_MAX_WEIGHT * max(0.0, 1.0 - abs(gap_s) / TEMPORAL_WINDOW_S)
