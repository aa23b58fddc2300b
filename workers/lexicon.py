"""The inverted index of one space's content: word token -> rows whose content holds it.

Why it exists: a text query must find the memories that contain its words even when their embeddings came from
a client model, for which a hashed text vector of the query means nothing. Lexical scores weight each query
word by its rarity in the space (IDF), so "the" matters little and "mitochondria" a lot.

A token held by one row maps to that row as a bare ``int``, and only a token held by several rows to a ``set``.
Why: most tokens of a real vocabulary occur once (ids, numbers, names), and every ``set`` is an object the
garbage collector must walk in each full pass, where an ``int`` is not (docs/storage.md, "Garbage collection").
"""

from __future__ import annotations

import math

import numpy as np

Rows = int | set[int]
"""A token's rows: one row as an ``int``, several as a ``set`` (module docstring)."""


class Lexicon:
    """Postings of live rows only (tombstoned rows are removed), so document frequencies count live ones."""

    def __init__(self) -> None:
        self._postings: dict[str, Rows] = {}

    def add(self, row: int, tokens: set[str]) -> None:
        postings = self._postings
        for token in tokens:
            held = postings.get(token)
            if held is None:
                postings[token] = row
            elif isinstance(held, int):
                if held != row:
                    postings[token] = {held, row}
            else:
                held.add(row)

    def remove(self, row: int, tokens: set[str]) -> None:
        postings = self._postings
        for token in tokens:
            held = postings[token]
            if isinstance(held, int):
                if held == row:
                    del postings[token]
                continue
            held.discard(row)
            if len(held) == 1:
                postings[token] = next(iter(held))
            elif not held:
                del postings[token]

    def export(self, new_row: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The postings, renumbered through ``new_row``, as flat arrays for a snapshot: the tokens, each token's
        number of rows, and all rows token after token. Loading these is about twice as fast as tokenizing every
        memory again (docs/storage.md)."""
        tokens = list(self._postings)
        held = [_members(self._postings[t]) for t in tokens]
        counts = np.fromiter((len(h) for h in held), dtype=np.int64, count=len(tokens))
        rows = np.fromiter((r for h in held for r in h), dtype=np.int64, count=int(counts.sum()))
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
            lexicon._postings[token] = all_rows[start] if end - start == 1 else set(all_rows[start:end])
            start = end
        return lexicon

    def renumber(self, new_row: np.ndarray) -> None:
        """Follow a compaction of the rows (``new_row[old]`` is the new row of an old, live one)."""
        self._postings = {
            token: int(new_row[held]) if isinstance(held, int) else {int(new_row[row]) for row in held}
            for token, held in self._postings.items()
        }

    def coverage(self, query_tokens: list[str], rows: int, live_count: int) -> np.ndarray:
        """Per row, the IDF-weighted share of the query's distinct tokens that its content holds (0 to 1).

        ``idf = ln(1 + N / df)`` over the ``live_count`` live memories. A query token no memory holds counts
        with df = 1: it still weighs in the denominator (as a rare word), so a query is not fully matched by a
        memory that lacks one of its words.
        """
        scores = np.zeros(rows, dtype=np.float64)
        total = 0.0
        for token in set(query_tokens):
            held = self._postings.get(token)
            holders = () if held is None else _members(held)
            idf = math.log1p(live_count / max(len(holders), 1))
            total += idf
            if holders:
                scores[np.fromiter(holders, dtype=np.intp, count=len(holders))] += idf
        return scores / total if total > 0 else scores


def _members(held: Rows) -> tuple[int] | set[int]:
    """A token's rows as a collection, whichever way they are kept."""
    return (held,) if isinstance(held, int) else held
