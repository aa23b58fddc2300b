"""What each native client operation sends, checked without a server: spaces, conversions, refusals."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engram import client_calls as calls
from engram import protocol
from engram.client import AsyncClient, Client
from engram.errors import EngramError, ErrorCode

spaces = st.one_of(st.none(), st.text(min_size=1, max_size=10))
vectors = st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=1, max_size=64)


@given(call_space=spaces, default=spaces)
def test_the_call_space_wins_then_the_client_default_then_none(call_space, default):
    call = calls.get_memory("m1", space=call_space)
    expected = call_space if call_space is not None else default
    assert call.header_space(default) == expected


@given(default=spaces)
def test_registry_wide_calls_never_name_a_space(default):
    assert calls.ping().header_space(default) is None
    assert calls.list_spaces().header_space(default) is None


def test_space_calls_name_the_space_they_are_about():
    assert calls.create_space("alpha", dim=8).header_space("other") == "alpha"
    assert calls.get_space("alpha").header_space("other") == "alpha"
    assert calls.create_space("alpha", dim=8).request == protocol.CreateSpace(8)


@given(vectors)
def test_lists_and_arrays_become_little_endian_float32_bytes(values):
    expected = np.asarray(values, dtype="<f4")
    for given_as in (values, np.asarray(values, dtype=np.float64), tuple(values)):
        raw = calls.embedding_bytes(given_as)
        assert raw is not None and np.array_equal(np.frombuffer(raw, dtype="<f4"), expected)
    assert calls.embedding_bytes(expected.tobytes()) == expected.tobytes()


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0]], ["north"], np.zeros((2, 2))])
def test_embeddings_that_are_not_one_vector_are_refused_before_sending(bad):
    with pytest.raises(EngramError) as caught:
        calls.remember("text", embedding=bad)
    assert caught.value.code is ErrorCode.INVALID_MEMORY_INPUT


def test_times_are_epoch_seconds_and_naive_datetimes_are_refused():
    moment = datetime(2024, 1, 4, 8, 15, tzinfo=timezone(timedelta(hours=2)))
    memory = calls.memory_in("x", observed_at=moment)
    assert memory.observed_at == moment.timestamp()
    assert calls.memory_in("x", observed_at=1704356100.0).observed_at == 1704356100.0
    with pytest.raises(EngramError, match="naive"):
        calls.memory_in("x", observed_at=datetime(2024, 1, 4, 8, 15))


def test_remember_sends_one_memory_with_every_field():
    call = calls.remember("fact", id="m1", confidence=0.9, tags=["a", "b"], metadata={"k": "v"}, space="alpha")
    assert call.space == "alpha"
    assert call.request == protocol.Remember(
        [protocol.MemoryIn("fact", id="m1", confidence=0.9, tags=["a", "b"], metadata={"k": "v"})]
    )


def test_an_episode_is_a_memory_with_context_whose_importance_is_its_confidence():
    when = datetime(2024, 1, 4, 8, 15, tzinfo=UTC)
    call = calls.remember_episode("met Ada at the station", when, who=["ada"], where_location="station", importance=0.8)
    (memory,) = call.request.memories
    assert (memory.content, memory.observed_at, memory.confidence) == ("met Ada at the station", when.timestamp(), 0.8)
    assert memory.episode == protocol.EpisodeContext(where_location="station", who=["ada"], importance=0.8)


def test_an_empty_batch_and_an_unknown_recall_mode_are_refused_before_sending():
    with pytest.raises(EngramError, match="at least one memory"):
        calls.remember_batch([])
    with pytest.raises(EngramError, match="recall mode") as caught:
        calls.recall("q", mode="psychic")  # type: ignore[arg-type]
    assert "hybrid" in caught.value.message


def test_results_are_unwrapped_to_what_the_method_promises():
    stored = protocol.StoredMemory("m1", 0.7, 0.7, 1.0, 1.0, False)
    assert calls.remember("x").unwrap(protocol.Remembered([stored])) == stored
    assert calls.remember_batch([calls.memory_in("x")]).unwrap(protocol.Remembered([stored])) == [stored]
    summary = protocol.SpaceSummary("alpha", 8, 1.0)
    assert calls.list_spaces().unwrap(protocol.SpaceList([summary])) == [summary]


@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_client_methods_show_the_real_signature_and_docs(cls):
    for name in ("remember", "recall", "list", "get", "delete", "create_space", "ping"):
        method = getattr(cls, name)
        parameters = list(inspect.signature(method).parameters)
        assert parameters[0] == "self" and "args" not in parameters
        assert method.__doc__ and method.__qualname__ == f"{cls.__name__}.{name}"
    assert inspect.iscoroutinefunction(AsyncClient.recall) and not inspect.iscoroutinefunction(Client.recall)
    assert str(inspect.signature(cls.get).return_annotation) == "MemoryRecord"
