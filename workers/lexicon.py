"""The inverted index of one space's content: word token -> rows whose content holds it.

Why it exists: a text query must find the memories that contain its words even when their embeddings came from
a client model, for which a hashed text vector of the query means nothing. Lexical scores weight each query
word by its rarity in the space (IDF), so "the" matters little and "mitochondria" a lot.
"""

from __future__ import annotations

import math

import numpy as np


class Lexicon:
    """Postings of live rows only (tombstoned rows are removed), so document frequencies count live ones."""

    def __init__(self) -> None:
        self._postings: dict[str, set[int]] = {}

    def add(self, row: int, tokens: set[str]) -> None:
        for token in tokens:
            self._postings.setdefault(token, set()).add(row)

    def remove(self, row: int, tokens: set[str]) -> None:
        for token in tokens:
            rows = self._postings[token]
            rows.discard(row)
            if not rows:
                del self._postings[token]

    def export(self, new_row: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The postings, renumbered through ``new_row``, as flat arrays for a snapshot: the tokens, each token's
        number of rows, and all rows token after token. Loading these is about twice as fast as tokenizing every
        memory again (docs/storage.md)."""
        tokens = list(self._postings)
        counts = np.fromiter((len(self._postings[t]) for t in tokens), dtype=np.int64, count=len(tokens))
        rows = np.fromiter((r for t in tokens for r in self._postings[t]), dtype=np.int64, count=int(counts.sum()))
        return tokens, counts, new_row[rows].astype(np.int32)

    @classmethod
    def restore(cls, tokens: list[str], counts: np.ndarray, rows: np.ndarray) -> Lexicon:
        """The lexicon ``export`` saved; raises ValueError when the arrays do not fit together."""
        if len(tokens) != len(counts) or int(counts.sum()) != len(rows) or (len(counts) and counts.min() < 1):
            raise ValueError(f"lexicon of {len(tokens)} tokens does not match its {len(counts)} counts")
        ends = np.cumsum(counts).tolist()
        all_rows = rows.tolist()
        lexicon = cls()
        start = 0
        for token, end in zip(tokens, ends, strict=True):
            lexicon._postings[token] = set(all_rows[start:end])
            start = end
        return lexicon

    def renumber(self, new_row: np.ndarray) -> None:
        """Follow a compaction of the rows (``new_row[old]`` is the new row of an old, live one)."""
        self._postings = {token: {int(new_row[row]) for row in rows} for token, rows in self._postings.items()}

    def coverage(self, query_tokens: list[str], rows: int, live_count: int) -> np.ndarray:
        """Per row, the IDF-weighted share of the query's distinct tokens that its content holds (0 to 1).

        ``idf = ln(1 + N / df)`` over the ``live_count`` live memories. A query token no memory holds counts
        with df = 1: it still weighs in the denominator (as a rare word), so a query is not fully matched by a
        memory that lacks one of its words.
        """
        scores = np.zeros(rows, dtype=np.float64)
        total = 0.0
        for token in set(query_tokens):
            holders = self._postings.get(token, set())
            idf = math.log1p(live_count / max(len(holders), 1))
            total += idf
            if holders:
                scores[np.fromiter(holders, dtype=np.intp, count=len(holders))] += idf
        return scores / total if total > 0 else scores
