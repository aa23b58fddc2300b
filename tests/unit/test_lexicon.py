"""workers/lexicon.py against a plain model (token -> set of rows): adding, removing, compacting, saving and
scoring give the same answers whether a token's rows are kept as one ``int`` or as a ``set``; and a posting of one
row is no object for the garbage collector."""

from __future__ import annotations

import gc
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.lexicon import Lexicon

TOKENS = st.sampled_from(["cat", "dog", "the", "7", "mitochondria"])
OPERATIONS = st.lists(
    st.tuples(st.booleans(), st.integers(min_value=0, max_value=7), st.sets(TOKENS, max_size=3)), max_size=40
)


def contents(lexicon: Lexicon, rows: int) -> dict[str, set[int]]:
    """What the lexicon holds, read through its snapshot export (rows unchanged)."""
    tokens, counts, flat = lexicon.export(np.arange(rows))
    held, start = {}, 0
    for token, count in zip(tokens, counts.tolist(), strict=True):
        held[token] = set(flat[start : start + count].tolist())
        start += count
    return held


def apply(operations) -> tuple[Lexicon, dict[str, set[int]], dict[int, set[str]]]:
    """Add or remove rows as a space does: a row is added with its tokens once, and removed with the same ones."""
    lexicon, model, live = Lexicon(), {}, {}
    for add, row, tokens in operations:
        if add and row not in live:
            lexicon.add(row, tokens)
            live[row] = tokens
            for token in tokens:
                model.setdefault(token, set()).add(row)
        elif not add and row in live:
            lexicon.remove(row, live.pop(row))
            for token in list(model):
                model[token].discard(row)
                if not model[token]:
                    del model[token]
    return lexicon, model, live


@settings(max_examples=200)
@given(OPERATIONS, st.lists(TOKENS, min_size=1, max_size=4))
def test_the_lexicon_holds_and_scores_what_the_model_does(operations, query):
    lexicon, model, live = apply(operations)
    assert contents(lexicon, 8) == model
    restored = Lexicon.restore(*lexicon.export(np.arange(8)))
    assert contents(restored, 8) == model
    scores = lexicon.coverage(query, 8, len(live))
    expected = np.zeros(8)
    total = 0.0
    for token in set(query):
        idf = math.log1p(len(live) / max(len(model.get(token, ())), 1))
        total += idf
        for row in model.get(token, ()):
            expected[row] += idf
    assert np.allclose(scores, expected / total if total > 0 else expected)  # an empty space scores 0


@given(OPERATIONS)
def test_renumbering_follows_a_compaction(operations):
    lexicon, model, live = apply(operations)
    new_row = np.full(8, -1)
    for new, old in enumerate(sorted(live)):
        new_row[old] = new
    lexicon.renumber(new_row)
    assert contents(lexicon, 8) == {token: {int(new_row[row]) for row in rows} for token, rows in model.items()}


def test_a_token_of_one_row_is_not_tracked_by_the_garbage_collector():
    lexicon = Lexicon()
    lexicon.add(0, {"unique", "shared"})
    lexicon.add(1, {"shared"})
    tokens, counts, _ = lexicon.export(np.arange(2))
    assert dict(zip(tokens, counts.tolist(), strict=True)) == {"unique": 1, "shared": 2}
    held = lexicon._postings  # the representation is the point of this test
    assert isinstance(held["unique"], int) and isinstance(held["shared"], set)
    lexicon.remove(1, {"shared"})
    assert isinstance(held["shared"], int)  # back to one row: back to an int
    assert not any(gc.is_tracked(rows) for rows in held.values())
