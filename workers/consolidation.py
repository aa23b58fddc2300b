"""Consolidation: similar episodes of one space become semantic patterns, with citations back to their episodes.

A pass takes the space's most recent episodes (at most ``MAX_EPISODES_PER_PASS``), clusters them by cosine
similarity of their embeddings, and keeps every cluster of at least ``min_cluster_size`` episodes as a pattern. The
clustering is leader clustering refined once: episodes in time order join the first cluster whose centroid they are
at least ``similarity_threshold`` similar to (else start one), then every episode is reassigned to its best centroid.
It is deterministic for a given set of episodes, and a pattern's id is derived from the episodes it cites, so an
unchanged cluster keeps its id from pass to pass while a changed space yields changed patterns.

Each pass replaces the previous result (nothing is frozen), and the result is saved atomically as
``<space>/consolidations.json`` so a restart serves it without recomputing. It is saved without an fsync: it is
derived from the episodes, which are durable in the log, and a pass runs in the worker's loop, where the two fsyncs
of a durable replace held every request of the worker 1-3 ms per space under load. A crash may leave the previous
result (or an unreadable file): that space's pass is then due again, because episodes stored after the result it
holds count as its backlog (``found_on_open``), or because the file could not be read.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np

from engram.atomic import replace_derived
from engram.embedder import tokenize
from engram.protocol import Citation, Consolidations, ConsolidationStats, Pattern

DEFAULT_SIMILARITY_THRESHOLD = 0.8
DEFAULT_MIN_CLUSTER_SIZE = 3
MAX_EPISODES_PER_PASS = 1000
PREVIEW_CHARS = 120
SUMMARY_TERMS = 6
STATE_FILE = "consolidations.json"


@dataclass(frozen=True)
class EpisodeView:
    """What a pass needs to know about one episode (built by the space from its columns)."""

    id: str
    unit: np.ndarray  # L2-normalised embedding
    content: str
    confidence: float
    observed_at: float
    stored_at: float
    last_access: float


class _SavedState(msgspec.Struct):
    patterns: list[Pattern] = []
    stats: ConsolidationStats = msgspec.field(default_factory=ConsolidationStats)
    generated_at: float = 0.0


class ConsolidationState:
    """The latest consolidation result of one space and its running statistics."""

    def __init__(self, directory: Path) -> None:
        self._path = Path(directory) / STATE_FILE
        self._state = _SavedState()
        self.changed_since_pass = False
        self.backlog = 0  # episodes stored, replaced or deleted since the last pass (``consolidation_backlog``)
        if self._path.exists():
            try:
                self._state = msgspec.json.decode(self._path.read_bytes(), type=_SavedState)
            except msgspec.DecodeError:
                self.changed_since_pass = True  # unreadable: the next scheduled pass recomputes it

    @property
    def last_run_at(self) -> float | None:
        return self._state.stats.last_run_at

    def note_change(self, episodes: int = 1) -> None:
        """Episodes were stored, replaced or deleted: the next scheduled pass has work to do."""
        self.backlog += episodes
        self.changed_since_pass = True

    def found_on_open(self, stored_since_pass: int) -> None:
        """The space was opened with ``stored_since_pass`` live episodes stored after the last pass (deletions
        since then left no trace to count): they are the backlog, and the next scheduled pass is due for them."""
        self.backlog = stored_since_pass
        self.changed_since_pass = self.changed_since_pass or stored_since_pass > 0

    def due(self, now: float, interval_s: float) -> bool:
        last = self._state.stats.last_run_at
        return self.changed_since_pass and (last is None or now - last >= interval_s)

    def run(
        self,
        episodes: list[EpisodeView],
        now: float,
        similarity_threshold: float = DEFAULT_SIMILARITY_THRESHOLD,
        min_cluster_size: int = DEFAULT_MIN_CLUSTER_SIZE,
    ) -> Consolidations:
        recent = sorted(episodes, key=lambda e: e.observed_at)[-MAX_EPISODES_PER_PASS:]
        clusters = cluster(np.stack([e.unit for e in recent]) if recent else np.empty((0, 0)), similarity_threshold)
        patterns = [
            _pattern([recent[i] for i in members], now) for members in clusters if len(members) >= min_cluster_size
        ]
        patterns.sort(key=lambda p: (-p.strength, p.id))
        stats = self._state.stats
        self._state = _SavedState(
            patterns,
            ConsolidationStats(stats.total_runs + 1, now, len(recent), len(patterns)),
            now,
        )
        replace_derived(self._path, msgspec.json.encode(self._state))  # recomputed if a crash loses it
        self.changed_since_pass = False
        self.backlog = 0
        return self.snapshot(len(patterns))

    def snapshot(self, max_patterns: int) -> Consolidations:
        state = self._state
        return Consolidations(state.generated_at, state.patterns[:max_patterns], state.stats)

    def pattern(self, pattern_id: str) -> Pattern | None:
        return next((p for p in self._state.patterns if p.id == pattern_id), None)


def cluster(units: np.ndarray, threshold: float) -> list[list[int]]:
    """Group rows of ``units`` (unit vectors, in time order) so each row's cosine to its cluster's centroid is at
    least ``threshold``. Returns lists of row indexes; every row is in exactly one list."""
    if len(units) == 0:
        return []
    sums = np.zeros_like(units, dtype=np.float64)  # row k: sum of cluster k's members
    centroids = np.zeros_like(sums)  # row k: its normalised sum
    count = 0
    for vector in units:
        scores = centroids[:count] @ vector
        best = int(scores.argmax()) if count else -1
        if best < 0 or scores[best] < threshold:
            best, count = count, count + 1
        sums[best] += vector
        centroids[best] = _normalise(sums[best])
    centroids = centroids[:count]
    # One refinement: assign every row to its most similar centroid, or alone when none is close enough.
    similarity = units @ centroids.T
    best = similarity.argmax(axis=1)
    groups: dict[int, list[int]] = {}
    singles = count
    for row, (cluster_no, score) in enumerate(zip(best, similarity[np.arange(len(units)), best], strict=True)):
        key = int(cluster_no) if score >= threshold else (singles := singles + 1)
        groups.setdefault(key, []).append(row)
    return list(groups.values())


def _normalise(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def _pattern(members: list[EpisodeView], now: float) -> Pattern:
    units = np.stack([m.unit for m in members])
    centroid = _normalise(units.mean(axis=0))
    cohesion = float(np.mean(units @ centroid))
    confidence = float(np.mean([m.confidence for m in members]))
    # Strength grows with how tight and how large the cluster is, saturating: 3 tight episodes ~0.6, 10 ~0.9.
    strength = cohesion * (1.0 - float(np.exp(-len(members) / 3.3)))
    digest = hashlib.blake2b("\x00".join(sorted(m.id for m in members)).encode(), digest_size=6).hexdigest()
    citations = [
        Citation(m.id, m.observed_at, m.stored_at, m.last_access, m.confidence, m.content[:PREVIEW_CHARS])
        for m in sorted(members, key=lambda m: m.observed_at)
    ]
    return Pattern(
        id=f"pat_{digest}",
        summary=_summary(members),
        strength=round(strength, 6),
        schema_confidence=round(confidence * cohesion, 6),
        last_consolidated=now,
        citations=citations,
        embedding=centroid.astype("<f4").tobytes(),
    )


def _summary(members: list[EpisodeView]) -> str:
    """The words most of the cluster's episodes share, in order of how many episodes use them."""
    counts = Counter(token for m in members for token in set(tokenize(m.content)) if len(token) > 2)
    shared = [token for token, n in counts.most_common() if n >= max(2, len(members) // 2)]
    return " ".join(shared[:SUMMARY_TERMS]) or members[0].content[:PREVIEW_CHARS]
