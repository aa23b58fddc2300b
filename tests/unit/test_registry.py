"""The router's registry: create-or-get, tombstones, policies, the journal (torn tails, compaction) and the adoption
of space directories found on disk."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engram.protocol import SpacePolicy
from router import registry as registry_module
from router.registry import JOURNAL_FILE, REGISTRY_FILE, Registry, SpaceEntry, journal_line


def _loaded(root: Path) -> Registry:
    registry = Registry(root)
    registry.load()
    return registry


def _state(registry: Registry) -> list[SpaceEntry]:
    return registry.entries(include_deleted=True)


def test_create_or_get_creates_once_and_persists(tmp_path):
    registry = _loaded(tmp_path)
    entry, created = registry.create("alpha", 384)
    again, created_again = registry.create("alpha", 768)
    assert created and not created_again
    assert again is entry and again.dim == 384
    reloaded = Registry(tmp_path)
    assert reloaded.load() == []
    assert [(e.id, e.dim) for e in reloaded.entries()] == [("alpha", 384)]


def test_entries_are_sorted(tmp_path):
    registry = _loaded(tmp_path)
    for space in ["gamma", "alpha", "beta"]:
        registry.create(space, 8)
    assert [e.id for e in registry.entries()] == ["alpha", "beta", "gamma"]


def test_space_directories_missing_from_the_registry_are_adopted_with_their_policy(tmp_path):
    (tmp_path / "orphan").mkdir()
    settings = {"id": "orphan", "dim": 16, "created_at": 5.0, "policy": {"durability": "none", "max_memories": 9}}
    (tmp_path / "orphan" / "space.json").write_text(json.dumps(settings))
    (tmp_path / "Not-A-Space").mkdir()  # invalid id: never adopted
    (tmp_path / "nosettings").mkdir()  # no space.json: not a space
    registry = Registry(tmp_path)
    assert registry.load() == ["orphan"]
    adopted = registry.get("orphan")
    assert (adopted.dim, adopted.created_at) == (16, 5.0)
    assert adopted.policy == SpacePolicy(durability="none", max_memories=9)
    assert "orphan" in (tmp_path / REGISTRY_FILE).read_text()
    assert [e.id for e in _loaded(tmp_path).entries()] == ["orphan"]


def test_a_registry_written_by_the_previous_format_loads_with_default_policies(tmp_path):
    old = {"format": 1, "spaces": [{"id": "alpha", "dim": 8, "created_at": 1.5, "state": "active"}]}
    (tmp_path / REGISTRY_FILE).write_text(json.dumps(old))
    assert _state(_loaded(tmp_path)) == [SpaceEntry("alpha", 8, 1.5)]


def test_only_the_snapshot_and_the_journal_are_left_on_disk(tmp_path):
    registry = _loaded(tmp_path)
    registry.create("alpha", 8)
    registry.delete("alpha")
    assert sorted(p.name for p in tmp_path.iterdir()) == [JOURNAL_FILE]
    registry._compact()
    assert sorted(p.name for p in tmp_path.iterdir()) == [REGISTRY_FILE, JOURNAL_FILE]


def test_a_change_appends_one_journal_line_and_rewrites_no_snapshot(tmp_path):
    registry = _loaded(tmp_path)
    for i in range(50):
        registry.create(f"space-{i:03d}", 8)
    assert not (tmp_path / REGISTRY_FILE).exists()
    lines = (tmp_path / JOURNAL_FILE).read_bytes().splitlines()
    assert len(lines) == 50 and lines[-1] == journal_line(registry.get("space-049")).rstrip(b"\n")


def test_delete_tombstones_persistently_and_create_brings_the_space_back_new(tmp_path):
    registry = _loaded(tmp_path)
    first, _ = registry.create("alpha", 8, SpacePolicy(max_rps=5.0), now=100.0)
    registry.create("beta", 8)
    tombstone = registry.delete("alpha", now=200.0)
    assert tombstone.deleted and tombstone.deleted_at == 200.0
    reloaded = _loaded(tmp_path)
    assert reloaded.get("alpha") == tombstone
    assert [e.id for e in reloaded.entries()] == ["beta"]
    assert [e.id for e in reloaded.entries(include_deleted=True)] == ["alpha", "beta"]
    assert reloaded.active_count == len(reloaded) == 1
    assert [e.id for e in reloaded.deleted_entries()] == ["alpha"]
    again, created = reloaded.create("alpha", 16, now=300.0)
    assert created and again == SpaceEntry("alpha", 16, 300.0)  # new created_at, dim and (default) policy
    assert reloaded.active_count == 2
    assert _loaded(tmp_path).get("alpha") == again


def test_delete_and_update_of_a_missing_or_deleted_space_raise_and_change_nothing(tmp_path):
    registry = _loaded(tmp_path)
    registry.create("alpha", 8)
    registry.delete("alpha")
    before = (tmp_path / JOURNAL_FILE).read_bytes()
    for space in ("alpha", "ghost"):
        with pytest.raises(KeyError):
            registry.delete(space)
        with pytest.raises(KeyError):
            registry.update_policy(space, SpacePolicy(max_memories=1))
    assert (tmp_path / JOURNAL_FILE).read_bytes() == before


def test_a_policy_update_is_persisted_and_an_unchanged_one_writes_nothing(tmp_path):
    registry = _loaded(tmp_path)
    registry.create("alpha", 8)
    policy = SpacePolicy(durability="interval", durability_interval_ms=20, max_bytes=1000)
    registry.update_policy("alpha", policy)
    size = (tmp_path / JOURNAL_FILE).stat().st_size
    registry.update_policy("alpha", policy)
    assert (tmp_path / JOURNAL_FILE).stat().st_size == size
    assert _loaded(tmp_path).get("alpha").policy == policy


def test_a_torn_last_journal_line_is_dropped_and_cut_off_so_later_changes_survive(tmp_path):
    registry = _loaded(tmp_path)
    registry.create("alpha", 8)
    registry.close()
    torn = journal_line(SpaceEntry("beta", 8, 1.0))[:-7]  # a crash in the middle of the append
    with (tmp_path / JOURNAL_FILE).open("ab") as journal:
        journal.write(torn)
    reloaded = _loaded(tmp_path)
    assert [e.id for e in reloaded.entries()] == ["alpha"]
    reloaded.create("gamma", 8)
    assert [e.id for e in _loaded(tmp_path).entries()] == ["alpha", "gamma"]


def test_a_corrupt_line_between_good_ones_is_skipped_and_the_later_ones_kept(tmp_path):
    registry = _loaded(tmp_path)
    for space in ("alpha", "beta", "gamma"):
        registry.create(space, 8)
    registry.close()
    lines = (tmp_path / JOURNAL_FILE).read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"beta"', b'"bet4"')  # the checksum no longer matches
    (tmp_path / JOURNAL_FILE).write_bytes(b"".join(lines))
    assert [e.id for e in _loaded(tmp_path).entries()] == ["alpha", "gamma"]


def test_the_journal_is_compacted_into_the_snapshot_once_it_is_long(tmp_path, monkeypatch):
    monkeypatch.setattr(registry_module, "COMPACT_MIN_RECORDS", 8)
    registry = _loaded(tmp_path)
    for i in range(20):
        registry.create(f"space-{i:03d}", 8)
    journal_lines = (tmp_path / JOURNAL_FILE).read_bytes().count(b"\n")
    snapshot = msgspec.json.decode((tmp_path / REGISTRY_FILE).read_bytes())
    assert journal_lines < 20 and len(snapshot["spaces"]) + journal_lines >= 20
    assert _state(_loaded(tmp_path)) == _state(registry)


def test_a_crash_between_snapshot_and_journal_truncation_loads_the_same_state(tmp_path):
    registry = _loaded(tmp_path)
    registry.create("alpha", 8)
    registry.update_policy("alpha", SpacePolicy(max_memories=3))
    registry.delete("alpha")
    registry.create("beta", 8)
    journal = (tmp_path / JOURNAL_FILE).read_bytes()
    registry._compact()
    (tmp_path / JOURNAL_FILE).write_bytes(journal)  # the truncation never happened
    assert _state(_loaded(tmp_path)) == _state(registry)


_ids = st.sampled_from(["alpha", "beta", "gamma", "delta"])
_policies = st.builds(
    SpacePolicy,
    durability=st.sampled_from(["fsync", "interval", "none"]),
    max_memories=st.none() | st.integers(0, 10**6),
    max_rps=st.none() | st.floats(0.5, 1000),
)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("create"), _ids, st.integers(1, 2048), _policies),
        st.tuples(st.just("update"), _ids, _policies),
        st.tuples(st.just("delete"), _ids),
    ),
    max_size=40,
)


def _apply(registry: Registry, op: tuple) -> None:
    kind, space, *rest = op
    try:
        if kind == "create":
            registry.create(space, rest[0], rest[1])
        elif kind == "update":
            registry.update_policy(space, rest[0])
        else:
            registry.delete(space)
    except KeyError:
        pass  # not an active space: nothing changes


@settings(max_examples=60, deadline=None)
@given(ops=_ops, threshold=st.integers(1, 12))
def test_reloading_gives_the_state_the_changes_made_whenever_compaction_runs(ops, threshold):
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        original, registry_module.COMPACT_MIN_RECORDS = registry_module.COMPACT_MIN_RECORDS, threshold
        try:
            registry = _loaded(root)
            for op in ops:
                _apply(registry, op)
            registry.close()
            reloaded = _loaded(root)
            assert _state(reloaded) == _state(registry)
            assert reloaded.active_count == sum(1 for e in _state(registry) if not e.deleted)
        finally:
            registry_module.COMPACT_MIN_RECORDS = original


@settings(max_examples=60, deadline=None)
@given(ops=_ops, cut=st.floats(0.0, 1.0))
def test_a_journal_cut_anywhere_loads_the_state_after_its_last_whole_record(ops, cut):
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        registry = _loaded(root)
        history = [(0, _state(registry))]  # (journal bytes, state) after every change
        for op in ops:
            _apply(registry, op)
            size = (root / JOURNAL_FILE).stat().st_size
            if size != history[-1][0]:
                history.append((size, _state(registry)))
        registry.close()
        data = (root / JOURNAL_FILE).read_bytes()
        keep = int(len(data) * cut)
        (root / JOURNAL_FILE).write_bytes(data[:keep])
        expected = [state for size, state in history if size <= keep][-1]
        reloaded = _loaded(root)
        assert _state(reloaded) == expected
        reloaded.create("epsilon", 8)  # appends after the cut follow good data
        assert _state(_loaded(root)) == sorted([*expected, reloaded.get("epsilon")], key=lambda e: e.id)


def test_listeners_hear_every_change_with_the_entry_before_and_after_and_only_then(tmp_path):
    registry = _loaded(tmp_path)
    heard: list[tuple[SpaceEntry | None, SpaceEntry]] = []
    registry.listeners.append(lambda previous, entry: heard.append((previous, entry)))

    created, _ = registry.create("alpha", 8)
    assert heard == [(None, created)]
    registry.create("alpha", 8)  # already there: nothing changes
    registry.get("alpha"), registry.entries(), len(registry)
    assert len(heard) == 1
    updated = registry.update_policy("alpha", SpacePolicy(durability="none"))
    assert heard[1:] == [(created, updated)]
    deleted = registry.delete("alpha")
    assert heard[2:] == [(updated, deleted)] and deleted.deleted
