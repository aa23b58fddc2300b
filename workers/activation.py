"""Spreading activation and the ranking of recall: how a cue reaches memories it does not match.

Seeds are the similarity hits of the cue, each starting with its similarity as activation. Activation spreads
along association edges (workers/graph.py), one hop per round: crossing an edge of weight ``w`` passes
``activation * w * e^(-SPREAD_DECAY_PER_HOP)``, so after ``d`` hops what is left is the seed's activation times the
weights on the way times ``e^(-0.7 d)``, the original Engram's exponential decay. Activation below
``ACTIVATION_THRESHOLD`` (0.01, the original's) stops. A memory reached on several paths keeps the strongest one
(a maximum, not a sum, so activation never exceeds the seed's and cycles add nothing). Spreading stops after
``max_depth`` hops or when ``time_budget_s`` runs out, whichever comes first; what it reached by then is used.

Ranking (``rank_scores``), with ``c`` the memory's confidence after forgetting (workers/decay.py):

- ``similarity``: the cue's similarity alone (nothing spreads);
- ``spreading``: ``activation * c``;
- ``hybrid`` (default): ``(similarity + activation * c) / 2``, the original's "activation x confidence, averaged
  with similarity". A memory reached only by spreading has similarity 0 here.

Ties are broken by ``c``, so decay orders even memories the cue matches equally.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

import numpy as np

from engram.errors import EngramError, ErrorCode

SPREAD_DECAY_PER_HOP = 0.7
HOP_FACTOR = math.exp(-SPREAD_DECAY_PER_HOP)
ACTIVATION_THRESHOLD = 0.01
MAX_DEPTH_LIMIT = 8
MAX_TIME_BUDGET_MS = 10_000.0
MODES = ("similarity", "spreading", "hybrid")

Neighbours = Callable[[str], Iterable[tuple[str, float]]]


class Reached(NamedTuple):
    """How activation reached a memory: its strength, the hops from a seed, and the ids on the way (seed first)."""

    activation: float
    depth: int
    path: tuple[str, ...]


class Spread(NamedTuple):
    reached: dict[str, Reached]
    hops: int  # the deepest hop that activated a memory (0: nothing spread)
    complete: bool  # False when the time budget cut spreading short


def spread(
    seeds: Mapping[str, float],
    neighbours: Neighbours,
    max_depth: int,
    time_budget_s: float,
    clock: Callable[[], float] = time.perf_counter,
) -> Spread:
    """Spread activation from ``seeds`` (id -> activation in [0, 1]) for at most ``max_depth`` hops.

    Round ``d`` expands what round ``d - 1`` activated, reading the values it had at the start of the round, so a
    memory's depth is always the length of the path it records. The budget is checked before each expansion.
    """
    deadline = clock() + time_budget_s
    reached = {memory_id: Reached(activation, 0, (memory_id,)) for memory_id, activation in seeds.items()}
    frontier = sorted(reached.items(), key=lambda item: (-item[1].activation, item[0]))
    hops = 0
    for depth in range(1, max_depth + 1):
        activated: dict[str, None] = {}
        for memory_id, source in frontier:
            if clock() > deadline:
                return Spread(reached, hops, complete=False)
            for neighbour, weight in neighbours(memory_id):
                activation = source.activation * weight * HOP_FACTOR
                if activation < ACTIVATION_THRESHOLD:
                    continue
                known = reached.get(neighbour)
                if known is not None and known.activation >= activation:
                    continue
                reached[neighbour] = Reached(activation, depth, (*source.path, neighbour))
                activated[neighbour] = None
        if not activated:
            break
        hops = depth
        frontier = [(memory_id, reached[memory_id]) for memory_id in activated]
    return Spread(reached, hops, complete=True)


def rank_scores(mode: str, similarity: np.ndarray, activation: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """The score recall orders by, per memory, for ``mode`` (see the module docstring)."""
    if mode == "similarity":
        return similarity.astype(np.float64)
    if mode == "spreading":
        return activation * confidence
    return 0.5 * (similarity + activation * confidence)


def check_spreading(mode: str, max_depth: int, time_budget_ms: float) -> None:
    """Raise INVALID_MEMORY_INPUT for a recall mode or bound outside what this module serves."""
    if mode not in MODES:
        raise _invalid(f"Recall mode must be one of {', '.join(MODES)}, got '{mode}'.", "Use mode=hybrid (default).")
    if not 0 <= max_depth <= MAX_DEPTH_LIMIT:
        raise _invalid(f"max_depth must be from 0 to {MAX_DEPTH_LIMIT}, got {max_depth}.", "Use e.g. 3 (default).")
    if not (math.isfinite(time_budget_ms) and 0.0 < time_budget_ms <= MAX_TIME_BUDGET_MS):
        raise _invalid(
            f"time_budget_ms must be above 0 and at most {MAX_TIME_BUDGET_MS:g}, got {time_budget_ms}.",
            "Use e.g. 10 (default).",
        )


def _invalid(message: str, hint: str) -> EngramError:
    return EngramError(ErrorCode.INVALID_MEMORY_INPUT, message, hint=hint)
