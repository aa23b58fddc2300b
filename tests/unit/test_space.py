"""A space stores, replaces, lists and recalls its memories; its log rebuilds exactly that after a restart."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engram.embedder import embed_text
from engram.errors import EngramError, ErrorCode
from engram.protocol import MemoryIn
from workers import columns, decay
from workers.records import PutRecord, decode_record
from workers.space import Space
from workers.wal import frame, replay, segments

DIM = 8
NOW = 1_700_000_000.0


def vec(*values: float) -> bytes:
    return np.array(values, dtype="<f4").tobytes()


def wal_bytes(space_dir: Path) -> int:
    return sum(p.stat().st_size for p in segments(space_dir / "wal"))


@pytest.fixture
def space(tmp_path: Path) -> Iterator[Space]:
    opened, _ = Space.open(tmp_path, "alpha", DIM, NOW)
    yield opened
    opened.close()


def test_a_remembered_memory_reads_back_with_its_embedding(space: Space) -> None:
    embedding = vec(3, -1, 0.5, 0, 0, 2, 1e-3, 7)
    (stored,) = space.remember([MemoryIn("a fact", id="m1", embedding=embedding, confidence=0.9)], NOW)

    assert (stored.id, stored.confidence, stored.replaced) == ("m1", 0.9, False)
    assert stored.activation == pytest.approx(0.9 * (1 - 0.5 / 100_000))
    record = space.get("m1")
    assert (record.content, record.confidence, record.embedding_source) == ("a fact", 0.9, "client")
    assert (record.observed_at, record.stored_at, record.last_access) == (NOW, NOW, NOW)
    assert record.embedding is not None
    np.testing.assert_allclose(np.frombuffer(record.embedding, "<f4"), np.frombuffer(embedding, "<f4"), rtol=1e-6)


def test_a_memory_without_embedding_gets_the_builtin_one_and_a_fresh_id(space: Space) -> None:
    (stored,) = space.remember([MemoryIn("text only", observed_at=NOW - 60)], NOW)

    assert stored.id.startswith("mem_") and len(stored.id) == 12
    record = space.get(stored.id)
    assert record.embedding_source == "builtin"
    assert record.embedding == embed_text("text only", DIM).tobytes()
    assert record.observed_at == NOW - 60


def test_remembering_an_existing_id_replaces_the_memory(space: Space) -> None:
    space.remember([MemoryIn("old", id="m1"), MemoryIn("other", id="m2")], NOW)
    (stored,) = space.remember([MemoryIn("new", id="m1", confidence=0.3)], NOW + 1)

    assert stored.replaced
    assert space.count == 2
    assert space.get("m1").content == "new" and space.get("m1").confidence == 0.3
    assert [m.id for m in space.list(0, 10, False).memories] == ["m2", "m1"]
    assert space.recall("old", None, 0.5, 10, NOW).hits == []


def test_reopening_replays_every_write(tmp_path: Path) -> None:
    space, _ = Space.open(tmp_path, "alpha", DIM, NOW)
    space.remember([MemoryIn("one", id="a"), MemoryIn("two", id="b", embedding=vec(*range(1, 9)))], NOW)
    space.remember([MemoryIn("three", id="a")], NOW + 1)
    space.delete("b", NOW + 2)
    before = space.list(0, 100, True)
    space.close()

    reopened, report = Space.open(tmp_path, "alpha", DIM, NOW)

    assert report.records == 4 and report.dropped_reason is None
    assert reopened.list(0, 100, True) == before
    reopened.close()


def test_reopening_after_a_torn_tail_keeps_the_good_prefix_and_reports_the_rest(tmp_path: Path) -> None:
    space, _ = Space.open(tmp_path, "alpha", DIM, NOW)
    space.remember([MemoryIn(f"memory {i}", id=f"m{i}") for i in range(3)], NOW)
    space.close()
    (segment,) = segments(tmp_path / "alpha" / "wal")
    with segment.open("ab") as log:
        log.write(frame(b"a record the crash cut short")[:20])

    reopened, report = Space.open(tmp_path, "alpha", DIM, NOW)

    assert (report.records, report.dropped_bytes, report.dropped_reason) == (3, 20, "torn record")
    assert [m.id for m in reopened.list(0, 10, False).memories] == ["m0", "m1", "m2"]
    reopened.remember([MemoryIn("after recovery", id="m3")], NOW)
    reopened.close()
    assert Space.open(tmp_path, "alpha", DIM, NOW)[0].count == 4


def test_spaces_with_the_same_ids_never_see_each_others_memories(tmp_path: Path) -> None:
    alpha, _ = Space.open(tmp_path, "alpha", 768, NOW)
    beta, _ = Space.open(tmp_path, "beta", 768, NOW)
    alpha.remember([MemoryIn("alpha secret about apples", id="shared")], NOW)
    beta.remember([MemoryIn("beta secret about bananas", id="shared")], NOW)

    assert alpha.get("shared").content == "alpha secret about apples"
    assert beta.get("shared").content == "beta secret about bananas"
    assert alpha.recall("bananas", None, 0.5, 10, NOW).hits == []
    assert [h.memory.content for h in beta.recall("secret", None, 0.5, 10, NOW).hits] == ["beta secret about bananas"]
    alpha.close()
    beta.close()
    for name, fruit in (("alpha", "apples"), ("beta", "bananas")):
        payloads, _ = replay(tmp_path / name / "wal")
        records = [decode_record(p) for p in payloads]
        assert [r.content for r in records if isinstance(r, PutRecord)] == [f"{name} secret about {fruit}"]


def test_text_recall_finds_the_memory_holding_the_query_word(tmp_path: Path) -> None:
    space, _ = Space.open(tmp_path, "research", 768, NOW)
    space.remember(
        [
            MemoryIn("The mitochondria is the powerhouse of the cell", confidence=0.855),
            MemoryIn("Paris is the capital of France"),
            MemoryIn("Water boils at 100 degrees Celsius at sea level"),
        ],
        NOW,
    )

    result = space.recall("mitochondria", None, 0.5, 10, NOW)

    assert result.searched == 3
    assert [h.memory.content for h in result.hits] == ["The mitochondria is the powerhouse of the cell"]
    assert result.hits[0].similarity >= 0.7
    space.close()


def test_distinct_texts_stay_distinct_memories(space: Space) -> None:
    texts = [f"note number {i} about topic {i * 7 % 13}" for i in range(100)]
    space.remember([MemoryIn(text) for text in texts], NOW)

    assert space.count == 100
    assert sorted(m.content for m in space.list(0, 1000, False).memories) == sorted(texts)


def test_text_recall_of_client_embeddings_is_lexical_only(space: Space) -> None:
    space.remember([MemoryIn("apples and pears", id="fruit", embedding=vec(1, 0, 0, 0, 0, 0, 0, 0))], NOW)

    assert space.recall("apples", None, 0.5, 10, NOW).hits[0].similarity == 1.0
    assert space.recall("bananas", None, 0.0, 10, NOW).hits[0].similarity == 0.0


def test_a_memory_id_as_query_scores_one(space: Space) -> None:
    space.remember([MemoryIn("unrelated words", id="mem_1234abcd")], NOW)

    (hit,) = space.recall("mem_1234abcd", None, 0.9, 10, NOW).hits
    assert (hit.memory.id, hit.similarity) == ("mem_1234abcd", 1.0)


def test_embedding_recall_returns_nearest_first_above_the_threshold(space: Space) -> None:
    space.remember(
        [
            MemoryIn("east", id="east", embedding=vec(1, 0, 0, 0, 0, 0, 0, 0)),
            MemoryIn("north-east", id="ne", embedding=vec(1, 1, 0, 0, 0, 0, 0, 0)),
            MemoryIn("north", id="north", embedding=vec(0, 5, 0, 0, 0, 0, 0, 0)),
            MemoryIn("west", id="west", embedding=vec(-1, 0, 0, 0, 0, 0, 0, 0)),
        ],
        NOW,
    )

    result = space.recall(None, vec(2, 0.2, 0, 0, 0, 0, 0, 0), 0.05, 10, NOW + 5)

    assert [h.memory.id for h in result.hits] == ["east", "ne", "north"]
    assert result.hits[0].similarity == pytest.approx(2 / np.hypot(2, 0.2), rel=1e-6)
    assert result.searched == 4
    assert space.recall(None, vec(2, 0.2, 0, 0, 0, 0, 0, 0), 0.05, 1, NOW + 5).hits[0].memory.id == "east"
    assert space.get("east").last_access == NOW + 5  # recall marks what it returns as accessed
    assert space.get("west").last_access == NOW


def test_equal_similarity_ranks_higher_confidence_then_newer_first(space: Space) -> None:
    same = vec(1, 0, 0, 0, 0, 0, 0, 0)
    space.remember([MemoryIn("low", id="low", embedding=same, confidence=0.2)], NOW)
    space.remember([MemoryIn("old", id="old", embedding=same, confidence=0.8)], NOW)
    space.remember([MemoryIn("new", id="new", embedding=same, confidence=0.8)], NOW + 1)

    assert [h.memory.id for h in space.recall(None, same, 0.5, 10, NOW).hits] == ["new", "old", "low"]
    assert [h.memory.id for h in space.recall(None, same, 0.5, 2, NOW).hits] == ["new", "old"]


@pytest.mark.parametrize(
    ("memory", "message"),
    [
        (MemoryIn("   "), "must not be blank"),
        (MemoryIn("é" * 50_001), "100000 bytes"),
        (MemoryIn("x", embedding=vec(1, 2, 3)), "Embedding must be exactly 8 dimensions, got 3"),
        (MemoryIn("x", embedding=b"\x00" * 10), "got 10 bytes"),
        (MemoryIn("x", embedding=vec(1, 2, 3, 4, 5, 6, 7, float("nan"))), "NaN or infinite"),
        (MemoryIn("x", embedding=vec(0, 0, 0, 0, 0, 0, 0, 0)), "all zeros"),
        (MemoryIn("x", confidence=1.5), "from 0 to 1"),
        (MemoryIn("x", confidence=float("nan")), "from 0 to 1"),
        (MemoryIn("x", id="  "), "non-empty"),
        (MemoryIn("x", observed_at=float("inf")), "finite timestamp"),
    ],
)
def test_an_invalid_memory_fails_the_whole_batch_and_writes_nothing(
    tmp_path: Path, space: Space, memory: MemoryIn, message: str
) -> None:
    space.remember([MemoryIn("kept", id="kept")], NOW)
    space.sync()
    size = wal_bytes(tmp_path / "alpha")

    with pytest.raises(EngramError) as caught:
        space.remember([MemoryIn("valid", id="valid"), memory], NOW)

    assert caught.value.code == ErrorCode.INVALID_MEMORY_INPUT
    assert message in caught.value.message and caught.value.hint
    assert wal_bytes(tmp_path / "alpha") == size
    assert space.count == 1 and not space.dirty


def test_a_wrong_dimension_hint_says_how_to_get_another_dimension(space: Space) -> None:
    with pytest.raises(EngramError) as caught:
        space.remember([MemoryIn("x", embedding=vec(1, 2, 3))], NOW)
    assert "POST /api/v1/spaces" in caught.value.hint and '"dim"' in caught.value.hint


@pytest.mark.parametrize(
    ("query", "embedding", "threshold", "max_results"),
    [
        (None, None, 0.5, 10),
        ("  ", None, 0.5, 10),
        ("x", vec(1, 2), 0.5, 10),
        ("x", None, 1.5, 10),
        ("x", None, -0.1, 10),
        ("x", None, 0.5, 0),
        ("x", None, 0.5, 1001),
    ],
)
def test_invalid_recall_parameters_are_rejected_with_a_hint(
    space: Space, query: str | None, embedding: bytes | None, threshold: float, max_results: int
) -> None:
    with pytest.raises(EngramError) as caught:
        space.recall(query, embedding, threshold, max_results, NOW)
    assert caught.value.code == ErrorCode.INVALID_MEMORY_INPUT and caught.value.hint


def test_an_unknown_memory_is_not_found_naming_the_space(space: Space) -> None:
    with pytest.raises(EngramError) as caught:
        space.get("nope")
    assert caught.value.code == ErrorCode.MEMORY_NOT_FOUND
    assert caught.value.message.startswith("Memory 'nope' not found in memory space 'alpha'")
    with pytest.raises(EngramError):
        space.delete("nope", NOW)


def test_listing_pages_through_live_memories_in_write_order(space: Space) -> None:
    space.remember([MemoryIn(f"m{i}", id=f"m{i}") for i in range(5)], NOW)
    space.delete("m1", NOW)

    page = space.list(1, 2, include_embeddings=False)

    assert [m.id for m in page.memories] == ["m2", "m3"] and page.total == 4
    assert all(m.embedding is None for m in page.memories)


def test_an_existing_space_keeps_its_dimension_and_creation_time(tmp_path: Path) -> None:
    Space.open(tmp_path, "alpha", 16, NOW)[0].close()

    space, _ = Space.open(tmp_path, "alpha", 768, NOW + 100)

    assert (space.space_id, space.dim, space.created_at) == ("alpha", 16, NOW)
    assert sorted(p.name for p in (tmp_path / "alpha").iterdir()) == [
        "cold",
        "hot",
        "space.json",
        "wal",
        "warm",
    ]
    space.close()


# -- the space behaves like a dict of its memories, across any writes and a restart --------------------------

IDS = ["a", "b", "c", "d", "e"]
WORDS = ["river", "stone", "cloud", "ember", "violet", "quartz"]
contents = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)
embeddings = st.none() | st.integers(0, 2**32 - 1).map(
    lambda seed: (np.random.default_rng(seed).standard_normal(DIM) + 0.1).astype("<f4").tobytes()
)
puts = st.lists(
    st.builds(MemoryIn, content=contents, id=st.sampled_from(IDS), embedding=embeddings, confidence=st.floats(0, 1)),
    min_size=1,
    max_size=3,
)
operations = st.lists(st.tuples(st.just("put"), puts) | st.tuples(st.just("delete"), st.sampled_from(IDS)))


def assert_space_matches(space: Space, model: dict[str, MemoryIn]) -> None:
    page = space.list(0, 1000, include_embeddings=True)
    assert [m.id for m in page.memories] == list(model)
    assert page.total == space.count == len(model)
    for record in page.memories:
        expected = model[record.id]
        reinforced = expected.confidence
        for _ in range(record.access_count):  # each recall that returned it reinforced it (workers/decay.py)
            reinforced = decay.reinforced(reinforced)
        assert (record.content, record.confidence) == (expected.content, reinforced)
        if expected.embedding is None:
            assert record.embedding == embed_text(expected.content, DIM).tobytes()
        else:
            assert record.embedding is not None
            np.testing.assert_allclose(
                np.frombuffer(record.embedding, "<f4"), np.frombuffer(expected.embedding, "<f4"), rtol=1e-5
            )
        for query in (record.id, record.content):  # an id scores 1; so does a query of all a memory's words
            hits = space.recall(query, None, 1.0, 1000, NOW).hits
            assert record.id in {hit.memory.id for hit in hits}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_a_space_equals_a_dict_model_after_any_writes_and_after_reopening(
    monkeypatch: pytest.MonkeyPatch, ops: list[tuple[str, object]]
) -> None:
    monkeypatch.setattr(columns, "COMPACT_MIN_TOMBSTONES", 2)  # compact often, so compaction is exercised too
    model: dict[str, MemoryIn] = {}
    with tempfile.TemporaryDirectory() as tmp:
        space, _ = Space.open(Path(tmp), "prop", DIM, NOW)
        for kind, argument in ops:
            if kind == "put":
                stored = space.remember(argument, NOW)  # type: ignore[arg-type]
                for memory, result in zip(argument, stored, strict=True):  # type: ignore[call-overload]
                    assert result.replaced == (memory.id in model)
                    model.pop(memory.id, None)
                    model[memory.id] = memory
            elif argument in model:
                space.delete(argument, NOW)  # type: ignore[arg-type]
                del model[argument]
            else:
                with pytest.raises(EngramError):
                    space.delete(argument, NOW)  # type: ignore[arg-type]
        assert_space_matches(space, model)
        space.close()

        reopened, report = Space.open(Path(tmp), "prop", DIM, NOW)
        assert report.dropped_reason is None
        assert_space_matches(reopened, model)
        reopened.close()
