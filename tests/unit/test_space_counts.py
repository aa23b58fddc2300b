"""Active spaces per worker slot, kept change by change (router/space_counts.py), always equal a full recount of the
registry, and a count taken at start includes what the registry loaded."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from engram.protocol import SpacePolicy
from router.placement import owner
from router.registry import Registry
from router.space_counts import SpaceCounts

IDS = [f"space-{n}" for n in range(12)]


def _recount(registry: Registry, slots: int) -> list[int]:
    counts = [0] * slots
    for entry in registry.entries():
        counts[owner(entry.id, slots)] += 1
    return counts


changes = st.lists(
    st.tuples(st.sampled_from(["create", "delete", "policy"]), st.sampled_from(IDS), st.integers(1, 5)),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(slots=st.integers(1, 4), preloaded=st.sets(st.sampled_from(IDS), max_size=6), steps=changes)
def test_counts_follow_every_change_as_a_recount_would(slots, preloaded, steps):
    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry(Path(tmp))
        registry.load()
        for space in sorted(preloaded):
            registry.create(space, 8)
        counts = SpaceCounts(registry, slots)
        assert counts.per_slot == _recount(registry, slots)
        for action, space, number in steps:
            try:
                if action == "create":
                    registry.create(space, 8)
                elif action == "delete":
                    registry.delete(space)
                else:
                    registry.update_policy(space, SpacePolicy(max_memories=number))
            except KeyError:  # no active space of that id: nothing changed
                pass
            assert counts.per_slot == _recount(registry, slots)
        assert sum(counts.per_slot) == len(registry)
        registry.close()


def test_a_count_taken_after_a_restart_starts_from_what_was_loaded(tmp_path):
    registry = Registry(tmp_path)
    registry.load()
    for space in IDS:
        registry.create(space, 8)
    registry.delete(IDS[0])
    registry.close()
    reloaded = Registry(tmp_path)
    reloaded.load()
    counts = SpaceCounts(reloaded, 3)
    assert sum(counts.per_slot) == len(IDS) - 1
    assert counts.per_slot == _recount(reloaded, 3)
    reloaded.close()
