"""Recall/list filters as pure code, checked against a direct reading of each rule."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engram.errors import EngramError
from engram.protocol import Filters
from workers.filters import compile_filters

words = st.sampled_from(["work", "home", "urgent", "idea", "travel"])


def test_no_filters_compile_to_none():
    assert compile_filters(None) is None
    assert compile_filters(Filters()) is None


@given(
    st.lists(words, max_size=3),
    st.lists(words, max_size=2),
    st.dictionaries(words, words, max_size=2),
    st.lists(words, max_size=4),
    st.dictionaries(words, words, max_size=3),
    st.sampled_from([None, "memory", "episode"]),
    st.sampled_from(["memory", "episode"]),
)
def test_accepts_matches_the_rules(required, excluded, wanted_meta, tags, metadata, kind, row_kind):
    row_filter = compile_filters(Filters(tags=required, exclude_tags=excluded, metadata=wanted_meta, kind=kind))
    expected = (
        set(required) <= set(tags)
        and not set(excluded) & set(tags)
        and all(metadata.get(k) == v for k, v in wanted_meta.items())
        and (kind is None or kind == row_kind)
    )
    accepted = row_filter.accepts(tags, metadata, row_kind) if row_filter else True
    assert accepted == expected


def test_time_mask_is_inclusive():
    row_filter = compile_filters(Filters(from_time=10.0, to_time=20.0))
    assert row_filter.time_mask(np.array([5.0, 10.0, 15.0, 20.0, 25.0])).tolist() == [False, True, True, True, False]
    assert not row_filter.checks_rows


@pytest.mark.parametrize("bad", [Filters(kind="dream"), Filters(from_time=5.0, to_time=1.0)])
def test_bad_filters_are_refused(bad):
    with pytest.raises(EngramError):
        compile_filters(bad)
