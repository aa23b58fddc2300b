"""Each active space's owner slot and the spaces per slot, kept change by change (router/ownership.py), always equal
what hashing the whole registry gives, and what is taken at start includes what the registry loaded."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from engram.protocol import SpacePolicy
from router.ownership import Ownership
from router.placement import owner
from router.registry import Registry

IDS = [f"space-{n}" for n in range(12)]


def _recount(registry: Registry, slots: int) -> list[int]:
    counts = [0] * slots
    for entry in registry.entries():
        counts[owner(entry.id, slots)] += 1
    return counts


def _owners(registry: Registry, slots: int) -> dict[str, int]:
    return {entry.id: owner(entry.id, slots) for entry in registry.entries()}


changes = st.lists(
    st.tuples(st.sampled_from(["create", "delete", "policy"]), st.sampled_from(IDS), st.integers(1, 5)),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(slots=st.integers(1, 4), preloaded=st.sets(st.sampled_from(IDS), max_size=6), steps=changes)
def test_owners_and_counts_follow_every_change_as_hashing_the_registry_would(slots, preloaded, steps):
    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry(Path(tmp))
        registry.load()
        for space in sorted(preloaded):
            registry.create(space, 8)
        counts = Ownership(registry, slots)
        assert counts.per_slot == _recount(registry, slots)
        assert dict(counts.owners) == _owners(registry, slots)
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
            assert dict(counts.owners) == _owners(registry, slots)
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
    counts = Ownership(reloaded, 3)
    assert sum(counts.per_slot) == len(IDS) - 1
    assert counts.per_slot == _recount(reloaded, 3)
    assert dict(counts.owners) == _owners(reloaded, 3) and IDS[0] not in counts.owners
    reloaded.close()
