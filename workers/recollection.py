"""From the similarity hits of a cue to the ranked answer of recall: spread, forget, rank.

``recollect`` joins the pure parts (workers/activation.py for spreading and scores, workers/decay.py for the
forgetting curve) with a space's columns and traits. It only reads: the space reinforces what it returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from engram.protocol import Hit, MemoryRecord
from workers import activation, decay
from workers.activation import Reached
from workers.columns import Columns
from workers.traits import Traits


class Recollected(NamedTuple):
    """One memory of the answer: its row, how it was reached, and the values it was ranked by."""

    row: int
    similarity: float
    reached: Reached
    current_confidence: float
    score: float


class Recollection(NamedTuple):
    memories: list[Recollected]  # best first
    hops: int
    elapsed_ms: float

    def hits(self, describe: Callable[[int], MemoryRecord], trace: bool) -> list[Hit]:
        """The protocol's hits, each memory described by ``describe(row)``; paths only with ``trace``."""
        hits = []
        for memory in self.memories:
            reached = memory.reached
            retrieval = "similarity" if reached.depth == 0 else "spreading"
            path = list(reached.path) if trace else []
            record = describe(memory.row)
            activation = reached.activation
            hits.append(Hit(record, memory.similarity, activation, memory.score, retrieval, reached.depth, path))
        return hits


def recollect(
    columns: Columns,
    traits: Traits,
    seeds: np.ndarray,
    similarity: np.ndarray,
    max_results: int,
    now: float,
    mode: str,
    max_depth: int,
    time_budget_ms: float,
    allowed: np.ndarray | None = None,
) -> Recollection:
    """Rank the similarity hits ``seeds`` (rows, with their ``similarity`` to the cue) and, unless ``mode`` is
    "similarity", the memories activation spreads to from them; keep the best ``max_results``.

    Order: score, then current (decayed) confidence, then the newer write, then the later row. With ``allowed``
    (a mask over rows, e.g. recall's filters) only allowed memories are returned, but activation still spreads
    through the others: filters choose answers, they do not cut associations.
    """
    started = time.perf_counter()
    cue = {columns.ids[int(row)]: float(value) for row, value in zip(seeds, similarity, strict=True)}
    depth = 0 if mode == "similarity" else max_depth
    spread = activation.spread(cue, traits.graph.neighbours, depth, time_budget_ms / 1000.0)
    ids = [i for i in spread.reached if i in columns.row_of and (allowed is None or allowed[columns.row_of[i]])]
    rows = np.fromiter((columns.row_of[i] for i in ids), dtype=np.intp, count=len(ids))
    cue_similarity = np.fromiter((cue.get(i, 0.0) for i in ids), dtype=np.float64, count=len(ids))
    activations = np.fromiter((spread.reached[i].activation for i in ids), dtype=np.float64, count=len(ids))
    rates = traits.decay_rates(ids)
    current = decay.current_confidence(columns.confidence[rows], rates, columns.last_access[rows], now)
    scores = activation.rank_scores(mode, cue_similarity, activations, current)
    order = np.lexsort((-rows, -columns.stored_at[rows], -current, -scores))[:max_results]
    memories = [
        Recollected(int(rows[i]), float(cue_similarity[i]), spread.reached[ids[i]], float(current[i]), float(scores[i]))
        for i in order
    ]
    return Recollection(memories, spread.hops, (time.perf_counter() - started) * 1000.0)
