"""Memory space ids: the original Engram's rule (trim, then 3-64 of [a-z0-9_-]), checked at every boundary."""

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engram.errors import EngramError, ErrorCode
from engram.ids import is_valid_space_id, new_memory_id, validate_memory_id, validate_space_id

ALLOWED = string.ascii_lowercase + string.digits + "-_"
valid_ids = st.text(alphabet=ALLOWED, min_size=3, max_size=64)


@given(valid_ids, st.text(alphabet=" \t\n", max_size=3), st.text(alphabet=" \t\n", max_size=3))
def test_valid_ids_round_trip_after_trimming(space, before, after):
    assert validate_space_id(before + space + after) == space
    assert is_valid_space_id(space)


@given(st.text(alphabet=ALLOWED, max_size=2))
def test_too_short_ids_are_refused_naming_the_length_rule(space):
    with pytest.raises(EngramError) as caught:
        validate_space_id(space)
    assert caught.value.code is ErrorCode.INVALID_MEMORY_SPACE_ID
    assert "3-64 characters" in caught.value.message
    assert ("empty" if not space else "invalid length") in caught.value.message


@given(st.text(alphabet=ALLOWED, min_size=65, max_size=200))
def test_too_long_ids_are_refused(space):
    with pytest.raises(EngramError, match="invalid length"):
        validate_space_id(space)


@given(
    st.text(alphabet=ALLOWED, min_size=1, max_size=30),
    st.characters(exclude_characters=ALLOWED + " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0"),
    st.text(alphabet=ALLOWED, min_size=2, max_size=30),
)
def test_ids_with_other_characters_are_refused_naming_the_charset(head, bad, tail):
    candidate = head + bad + tail
    if candidate.strip() != candidate:  # unicode whitespace would be trimmed instead
        return
    with pytest.raises(EngramError) as caught:
        validate_space_id(candidate)
    assert "unsupported characters" in caught.value.message
    assert "[a-z0-9_-]" in caught.value.hint
    assert not is_valid_space_id(candidate)


def test_the_message_says_where_the_bad_value_came_from():
    with pytest.raises(EngramError, match="Invalid X-Memory-Space header"):
        validate_space_id("Alpha", source="X-Memory-Space header")


def test_non_strings_are_refused():
    with pytest.raises(EngramError, match="must be a string"):
        validate_space_id(42)


def test_new_memory_ids_have_the_original_shape():
    ids = {new_memory_id() for _ in range(200)}
    assert all(len(i) == 12 and i.startswith("mem_") for i in ids)
    assert len(ids) > 190


@pytest.mark.parametrize("bad", ["", "   ", "x" * 257, "tab\there", 7])
def test_bad_memory_ids_are_refused(bad):
    with pytest.raises(EngramError) as caught:
        validate_memory_id(bad)
    assert caught.value.code is ErrorCode.INVALID_MEMORY_INPUT
