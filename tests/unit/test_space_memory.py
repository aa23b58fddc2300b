"""A space as a memory: profiles, episodes, associations, spreading, decay and reinforcement, and their replay."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engram.errors import EngramError, ErrorCode
from engram.protocol import EpisodeContext, Link, MemoryIn
from workers.recollection import recollect
from workers.records import PutRecord, encode_record
from workers.space import Space
from workers.wal import WalWriter

DIM = 4
NOW = 1_700_000_000.0
HOUR_S = 3600.0


def vec(*values: float) -> bytes:
    return np.array(values, dtype="<f4").tobytes()


@pytest.fixture
def space(tmp_path: Path) -> Iterator[Space]:
    opened, _ = Space.open(tmp_path, "alpha", DIM, NOW)
    yield opened
    opened.close()


def reopen(space: Space, tmp_path: Path) -> Space:
    space.close()
    return Space.open(tmp_path, "alpha", DIM, NOW)[0]


def chain(space: Space) -> None:
    """a -> b -> c where only a looks like the cue vec(1, 0, 0, 0)."""
    space.remember(
        [
            MemoryIn("a", id="a", embedding=vec(1, 0, 0, 0)),
            MemoryIn("b", id="b", embedding=vec(0, 1, 0, 0)),
            MemoryIn("c", id="c", embedding=vec(0, 0, 1, 0)),
        ],
        NOW,
    )
    space.associate("a", "b", 0.9, NOW)
    space.associate("b", "c", 0.8, NOW)


def test_a_profile_is_stored_and_returned_as_sent(space: Space) -> None:
    memory = MemoryIn(
        "fact",
        id="m",
        tags=["x", "y"],
        memory_type="semantic",
        metadata={"source": "book"},
        decay_rate=0.3,
        confidence_reasoning="read it",
    )
    space.remember([memory], NOW)
    record = space.get("m", NOW)
    assert (record.kind, record.tags, record.memory_type, record.metadata) == (
        "memory",
        ["x", "y"],
        "semantic",
        memory.metadata,
    )
    assert (record.decay_rate, record.confidence_reasoning, record.episode, record.access_count) == (
        0.3,
        "read it",
        None,
        0,
    )


def test_an_episode_gets_an_ep_id_the_episode_rate_and_links_to_episodes_nearby(space: Space) -> None:
    office = EpisodeContext(where_location="office", who=["ana"], why="standup", importance=0.5)
    (first,) = space.remember([MemoryIn("standup", episode=office, observed_at=NOW - 600, confidence=0.5)], NOW)
    (second,) = space.remember([MemoryIn("retro", episode=office, observed_at=NOW, confidence=0.5)], NOW)

    assert second.id.startswith("ep_") and len(second.id) == 11
    assert {(link.target, link.kind) for link in second.links} == {(first.id, "episode"), (first.id, "temporal")}
    record = space.get(first.id, NOW)
    assert (record.kind, record.decay_rate, record.episode) == ("episode", 0.05, office)
    assert {link.target for link in record.links} == {second.id}


def test_auto_link_links_to_the_most_similar_memories_at_or_above_the_threshold(space: Space) -> None:
    space.remember(
        [
            MemoryIn("near", id="near", embedding=vec(1, 0.1, 0, 0)),
            MemoryIn("far", id="far", embedding=vec(0, 0, 0, 1)),
        ],
        NOW,
    )
    (stored,) = space.remember(
        [MemoryIn("new", id="new", embedding=vec(1, 0, 0, 0), auto_link=True, link_threshold=0.9)], NOW
    )

    assert stored.links == [Link("near", pytest.approx(1 / np.hypot(1, 0.1), rel=1e-6), "similarity")]
    (plain,) = space.remember([MemoryIn("plain", id="plain", embedding=vec(1, 0, 0, 0))], NOW)
    assert plain.links == []


def test_similarity_mode_finds_only_the_cue_match_and_hybrid_follows_the_chain(space: Space) -> None:
    chain(space)
    cue = vec(1, 0, 0, 0)

    assert [h.memory.id for h in space.recall(None, cue, 0.5, 10, NOW, mode="similarity").hits] == ["a"]
    result = space.recall(None, cue, 0.5, 10, NOW, trace=True)

    assert [(h.memory.id, h.depth, h.retrieval) for h in result.hits] == [
        ("a", 0, "similarity"),
        ("b", 1, "spreading"),
        ("c", 2, "spreading"),
    ]
    c = result.hits[2]
    assert c.path == ["a", "b", "c"] and c.similarity == 0.0
    assert c.activation == pytest.approx(1.0 * 0.9 * 0.8 * np.exp(-1.4))
    assert result.spread_hops == 2
    assert space.recall(None, cue, 0.5, 10, NOW, max_depth=1).spread_hops == 1


def test_deleting_or_replacing_a_memory_cuts_the_chain(space: Space) -> None:
    chain(space)
    space.remember([MemoryIn("b again", id="b", embedding=vec(0, 1, 0, 0))], NOW)  # replaced: a new memory
    assert [h.memory.id for h in space.recall(None, vec(1, 0, 0, 0), 0.5, 10, NOW).hits] == ["a"]
    assert space.get("a").links == []

    space.associate("a", "b", 0.9, NOW)
    space.associate("b", "c", 0.9, NOW)
    space.delete("b", NOW)
    assert [h.memory.id for h in space.recall(None, vec(1, 0, 0, 0), 0.5, 10, NOW).hits] == ["a"]


@pytest.mark.parametrize(
    ("source", "target", "weight", "code"),
    [
        ("a", "missing", 0.5, ErrorCode.MEMORY_NOT_FOUND),
        ("missing", "a", 0.5, ErrorCode.MEMORY_NOT_FOUND),
        ("a", "b", 0.0, ErrorCode.INVALID_MEMORY_INPUT),
        ("a", "b", 1.01, ErrorCode.INVALID_MEMORY_INPUT),
        ("a", "a", 0.5, ErrorCode.INVALID_MEMORY_INPUT),
    ],
)
def test_bad_associations_are_refused_and_log_nothing(
    space: Space, source: str, target: str, weight: float, code: ErrorCode
) -> None:
    chain(space)
    space.sync()
    with pytest.raises(EngramError) as caught:
        space.associate(source, target, weight, NOW)
    assert caught.value.code == code and not space.dirty


def test_decay_orders_memories_the_cue_matches_equally(space: Space) -> None:
    same = vec(1, 0, 0, 0)
    space.remember([MemoryIn("recent", id="recent", embedding=same, observed_at=NOW - HOUR_S)], NOW)
    space.remember([MemoryIn("faded", id="faded", embedding=same, observed_at=NOW - 10 * HOUR_S)], NOW + 1)

    hits = space.recall(None, same, 0.5, 10, NOW + 1).hits

    assert [h.memory.id for h in hits] == ["recent", "faded"]  # without decay the newer write would win the tie
    assert hits[0].memory.current_confidence == pytest.approx(0.7 * np.exp(-0.1 * (1 + 1 / 3600)))
    assert hits[1].memory.current_confidence == pytest.approx(0.7 * np.exp(-0.1 * (10 + 1 / 3600)))


def test_recall_reinforces_what_it_returns_and_the_reinforcement_is_replayed(space: Space, tmp_path: Path) -> None:
    space.remember([MemoryIn("kept", id="kept", observed_at=NOW - HOUR_S), MemoryIn("other", id="other")], NOW)
    space.sync()

    (hit,) = space.recall("kept", None, 0.9, 10, NOW + 60).hits

    assert space.dirty  # the reinforcement is logged; the worker loop fsyncs it before replying
    assert (hit.memory.access_count, hit.memory.last_access) == (0, NOW - HOUR_S)  # as it was when recalled
    after = space.get("kept")
    assert (after.access_count, after.last_access, after.confidence) == (1, NOW + 60, pytest.approx(0.73))
    assert space.get("other").access_count == 0

    space = reopen(space, tmp_path)
    assert space.get("kept") == after
    space.close()


def test_links_and_episodes_are_replayed_exactly(space: Space, tmp_path: Path) -> None:
    chain(space)
    space.remember([MemoryIn("e1", id="e1", episode=EpisodeContext(who=["ana"]), observed_at=NOW)], NOW)
    space.remember([MemoryIn("e2", id="e2", episode=EpisodeContext(who=["Ana"]), observed_at=NOW + 60)], NOW)
    before = {memory_id: space.get(memory_id) for memory_id in ("a", "b", "c", "e1", "e2")}

    space = reopen(space, tmp_path)

    assert {memory_id: space.get(memory_id) for memory_id in before} == before
    assert [link.kind for link in before["e2"].links] == ["episode", "temporal"]
    space.close()


def test_a_log_written_before_profiles_existed_replays_as_plain_memories(tmp_path: Path) -> None:
    Space.open(tmp_path, "alpha", DIM, NOW)[0].close()
    writer = WalWriter.open(tmp_path / "alpha" / "wal")
    writer.append(encode_record(PutRecord("old", "old fact", vec(1, 0, 0, 0), "client", 0.6, NOW, NOW)))
    writer.close()

    space, report = Space.open(tmp_path, "alpha", DIM, NOW)
    record = space.get("old")
    assert report.records == 1
    assert (record.kind, record.tags, record.decay_rate, record.content) == ("memory", [], 0.1, "old fact")
    space.close()


@pytest.mark.parametrize(
    ("memory", "named"),
    [
        (MemoryIn("x", tags=["t"] * 65), "tags"),
        (MemoryIn("x", metadata={str(i): "v" for i in range(65)}), "metadata"),
        (MemoryIn("x", decay_rate=-1.0), "decay_rate"),
        (MemoryIn("x", episode=EpisodeContext(emotional_valence=2.0)), "emotional_valence"),
        (MemoryIn("x", episode=EpisodeContext(importance=-0.5)), "importance"),
        (MemoryIn("x", auto_link=True, link_threshold=1.5), "link_threshold"),
    ],
)
def test_out_of_bounds_profiles_are_invalid_input(space: Space, memory: MemoryIn, named: str) -> None:
    with pytest.raises(EngramError) as caught:
        space.remember([memory], NOW)
    assert caught.value.code == ErrorCode.INVALID_MEMORY_INPUT and named in caught.value.message
    assert space.count == 0


def test_recollect_answers_only_allowed_memories_but_spreads_through_the_others(space: Space) -> None:
    chain(space)
    columns = space._columns
    allowed = np.ones(columns.rows, dtype=bool)
    allowed[columns.row_of["b"]] = False  # e.g. a filter b fails

    found = recollect(
        columns, space._traits, np.array([columns.row_of["a"]]), np.array([1.0]), 10, NOW, "hybrid", 3, 10.0, allowed
    )

    assert [(columns.ids[m.row], m.reached.path) for m in found.memories] == [("a", ("a",)), ("c", ("a", "b", "c"))]


def test_only_episode_changes_make_a_consolidation_pass_due_and_count_as_its_backlog(
    space: Space, tmp_path: Path
) -> None:
    interval = 300.0
    space.remember([MemoryIn(f"plain {i}", id=f"m{i}") for i in range(5)], NOW)
    space.delete("m0", NOW)
    assert not space.consolidation.due(NOW, interval) and space.consolidation.backlog == 0

    at = EpisodeContext(where_location="office")
    space.remember([MemoryIn(f"meeting {i}", id=f"e{i}", episode=at, observed_at=NOW + i) for i in range(3)], NOW)
    space.remember([MemoryIn("e0 as a plain memory now", id="e0"), MemoryIn("plain again", id="m1")], NOW)
    space.delete("e1", NOW)
    assert space.consolidation.due(NOW, interval)
    assert space.consolidation.backlog == 3 + 1 + 1  # three stored, one replaced by a plain memory, one deleted

    ran = space.consolidate(NOW + 1)
    assert ran.stats.episodes_considered == 1  # e2 is the one live episode left
    assert space.consolidation.backlog == 0 and not space.consolidation.due(NOW + 1 + interval, interval)

    space.remember([MemoryIn("later meeting", id="e9", episode=at, observed_at=NOW + 9)], NOW + 2)
    reopened = reopen(space, tmp_path)  # a restart counts the episodes stored since the last pass
    try:
        assert reopened.consolidation.backlog == 1 and reopened.consolidation.due(NOW + 1 + interval, interval)
    finally:
        reopened.close()


def test_a_pass_considers_the_latest_episodes_by_observation_time(
    space: Space, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("workers.space.MAX_EPISODES_PER_PASS", 3)
    at = EpisodeContext(where_location="lab")
    observed = [NOW + offset for offset in (50, 10, 40, 20, 30)]  # stored in another order than observed
    space.remember([MemoryIn(f"trial {i}", id=f"e{i}", episode=at, observed_at=t) for i, t in enumerate(observed)], NOW)
    space.remember([MemoryIn(f"note {i}", id=f"n{i}") for i in range(4)], NOW)
    considered = [episode.id for episode in space._episodes()]
    assert considered == ["e4", "e2", "e0"]  # observed at +30, +40, +50
    assert space.consolidate(NOW + 60).stats.episodes_considered == 3
