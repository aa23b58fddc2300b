"""The rules that pick a request's memory space, proved without HTTP."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engram.api.spaces_resolution import (
    FROM_BODY,
    FROM_DEFAULT,
    FROM_HEADER,
    FROM_PATH,
    FROM_QUERY,
    MISSING_SPACE_MESSAGE,
    SpaceChoice,
    resolve_path_space,
    resolve_space,
)
from engram.errors import EngramError, ErrorCode

SOURCES = ("header", "query", "body")
LABELS = {"header": FROM_HEADER, "query": FROM_QUERY, "body": FROM_BODY}

valid_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=3, max_size=64)
padding = st.sampled_from(["", " ", "\t", "  \n"])


def resolve(require_explicit: bool = False, **sources: str | None) -> SpaceChoice:
    return resolve_space(
        header=sources.get("header"),
        query=sources.get("query"),
        body=sources.get("body"),
        default="default",
        require_explicit=require_explicit,
    )


def raised(fn, *args, **kwargs) -> EngramError:  # type: ignore[no-untyped-def]
    with pytest.raises(EngramError) as info:
        fn(*args, **kwargs)
    return info.value


@given(space=valid_ids, source=st.sampled_from(SOURCES), before=padding, after=padding)
def test_any_valid_id_in_any_single_source_resolves_to_that_id(
    space: str, source: str, before: str, after: str
) -> None:
    assert resolve(**{source: before + space + after}) == SpaceChoice(space, LABELS[source])


@given(
    spaces=st.lists(valid_ids, min_size=2, max_size=2, unique=True),
    sources=st.lists(st.sampled_from(SOURCES), min_size=2, max_size=2, unique=True),
)
def test_two_different_valid_ids_in_two_sources_conflict(spaces: list[str], sources: list[str]) -> None:
    error = raised(resolve, **dict(zip(sources, spaces, strict=True)))
    assert error.code is ErrorCode.MEMORY_SPACE_CONFLICT
    assert f"'{spaces[0]}'" in error.message and f"'{spaces[1]}'" in error.message


def test_header_takes_precedence_when_every_source_agrees() -> None:
    assert resolve(header="alpha", query=" alpha", body="alpha ") == SpaceChoice("alpha", FROM_HEADER)
    assert resolve(query="alpha", body="alpha") == SpaceChoice("alpha", FROM_QUERY)


def test_conflict_message_names_both_sources_and_values() -> None:
    error = raised(resolve, header="alpha", body="beta")
    assert error.http_status == 400
    assert error.message == (
        "Conflicting memory spaces: the X-Memory-Space header names 'alpha' but the request body names 'beta'."
    )


def test_no_source_uses_the_default_space() -> None:
    assert resolve() == SpaceChoice("default", FROM_DEFAULT)


def test_no_source_with_explicit_spaces_required_is_missing_memory_space() -> None:
    error = raised(resolve, require_explicit=True)
    assert error.code is ErrorCode.MISSING_MEMORY_SPACE
    assert error.message == MISSING_SPACE_MESSAGE == "Missing memory_space_id. Set --space or X-Memory-Space header."


def test_explicit_spaces_required_still_accepts_any_given_source() -> None:
    assert resolve(require_explicit=True, body="alpha") == SpaceChoice("alpha", FROM_BODY)


@pytest.mark.parametrize("source", SOURCES)
def test_an_invalid_id_names_the_source_it_came_from(source: str) -> None:
    error = raised(resolve, **{source: "Bad Space!"})
    assert error.code is ErrorCode.INVALID_MEMORY_SPACE_ID
    assert LABELS[source] in error.message


def test_an_invalid_lower_precedence_source_is_rejected_even_when_a_higher_one_is_valid() -> None:
    assert raised(resolve, header="alpha", body="x").code is ErrorCode.INVALID_MEMORY_SPACE_ID


def test_an_empty_header_is_given_and_invalid_not_absent() -> None:
    assert raised(resolve, header="  ").code is ErrorCode.INVALID_MEMORY_SPACE_ID


def test_path_space_alone_resolves_to_the_path() -> None:
    assert resolve_path_space("alpha", header=None, query=None, body=None) == SpaceChoice("alpha", FROM_PATH)


def test_path_space_accepts_other_sources_that_agree() -> None:
    choice = resolve_path_space("alpha", header="alpha ", query="alpha", body=" alpha")
    assert choice == SpaceChoice("alpha", FROM_PATH)


@pytest.mark.parametrize("source", SOURCES)
def test_path_space_conflicts_with_any_source_that_disagrees(source: str) -> None:
    error = raised(resolve_path_space, "alpha", **{"header": None, "query": None, "body": None, source: "beta"})
    assert error.code is ErrorCode.MEMORY_SPACE_CONFLICT
    assert "'alpha'" in error.message and "'beta'" in error.message


def test_invalid_path_space_is_invalid_memory_space_id() -> None:
    error = raised(resolve_path_space, "UPPER", header=None, query=None, body=None)
    assert error.code is ErrorCode.INVALID_MEMORY_SPACE_ID
    assert FROM_PATH in error.message
