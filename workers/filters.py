"""Filters on recall, search and list: tags, metadata, time range and kind.

A ``Filters`` request compiles once into a ``RowFilter``. The time range is checked on whole numpy columns at once;
tags, metadata and kind need each candidate row's own values, so they are checked per row, only on rows that passed
the vectorised part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engram.errors import EngramError, ErrorCode
from engram.protocol import Filters

KINDS = ("memory", "episode")


@dataclass(frozen=True)
class RowFilter:
    required_tags: frozenset[str]
    excluded_tags: frozenset[str]
    metadata: tuple[tuple[str, str], ...]
    from_time: float | None
    to_time: float | None
    kind: str | None

    @property
    def checks_rows(self) -> bool:
        """Whether ``accepts`` has anything to check beyond the time range."""
        return bool(self.required_tags or self.excluded_tags or self.metadata or self.kind)

    def time_mask(self, observed_at: np.ndarray) -> np.ndarray:
        mask = np.ones(len(observed_at), dtype=bool)
        if self.from_time is not None:
            mask &= observed_at >= self.from_time
        if self.to_time is not None:
            mask &= observed_at <= self.to_time
        return mask

    def accepts(self, tags: list[str], metadata: dict[str, str], kind: str) -> bool:
        if self.kind is not None and kind != self.kind:
            return False
        if self.required_tags and not self.required_tags.issubset(tags):
            return False
        if self.excluded_tags and not self.excluded_tags.isdisjoint(tags):
            return False
        return all(metadata.get(key) == value for key, value in self.metadata)


def compile_filters(filters: Filters | None) -> RowFilter | None:
    """Validate and compile; None when there is nothing to filter."""
    if filters is None or filters == Filters():
        return None
    if filters.kind is not None and filters.kind not in KINDS:
        raise EngramError(
            ErrorCode.INVALID_MEMORY_INPUT,
            f"Unknown kind '{filters.kind}'.",
            hint=f"Use one of: {', '.join(KINDS)}.",
        )
    if filters.from_time is not None and filters.to_time is not None and filters.from_time > filters.to_time:
        raise EngramError(
            ErrorCode.INVALID_MEMORY_INPUT,
            "The time range is empty: from_time is after to_time.",
            hint="Swap from_time and to_time, or drop one of them.",
        )
    return RowFilter(
        frozenset(filters.tags),
        frozenset(filters.exclude_tags),
        tuple(sorted(filters.metadata.items())),
        filters.from_time,
        filters.to_time,
        filters.kind,
    )
