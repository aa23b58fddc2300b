"""Rendezvous placement: deterministic, balanced, and resizing moves few spaces."""

from hypothesis import given
from hypothesis import strategies as st

from router.placement import owner

space_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=3, max_size=64)


@given(space_ids, st.integers(min_value=1, max_value=64))
def test_owner_is_a_valid_slot_and_deterministic(space, slots):
    assert 0 <= owner(space, slots) < slots
    owner.cache_clear()
    assert owner(space, slots) == owner(space, slots)


def test_spaces_spread_over_all_workers():
    counts = [0] * 4
    for i in range(4000):
        counts[owner(f"space-{i}", 4)] += 1
    assert min(counts) > 800, counts


def test_adding_a_worker_moves_only_the_spaces_it_wins():
    spaces = [f"tenant-{i}" for i in range(3000)]
    before = {s: owner(s, 4) for s in spaces}
    after = {s: owner(s, 5) for s in spaces}
    moved = [s for s in spaces if before[s] != after[s]]
    assert all(after[s] == 4 for s in moved)  # a space only ever moves to the new slot
    assert 0.1 < len(moved) / len(spaces) < 0.3  # about 1/5 of them
