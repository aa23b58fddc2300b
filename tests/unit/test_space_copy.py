"""``engram space copy`` (router/space_copy.py): a stopped server's space copied under a new id opens with every
memory and the source's policy, and the copy refuses whatever would lose or misplace data."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from unittest import mock

import msgspec
import pytest

from engram.errors import EngramError, ErrorCode
from engram.protocol import MemoryIn, SpacePolicy
from router import space_copy
from router.registry import Registry
from router.space_copy import ServerRunning, copy_space
from workers.space import Space

DIM = 8
NOW = 1_700_000_000.0
POLICY = SpacePolicy(durability="interval", durability_interval_ms=200, max_memories=500, max_rps=20.0)


def stopped_server_root(root: Path) -> set[str]:
    """A data root as a stopped server leaves it: the registry knows 'big' (with a policy of its own, that its
    space.json does not have yet) and 'gone' (deleted); 'big' has snapshots and a log tail."""
    space, _ = Space.open(root, "big", DIM, NOW)
    for generation in range(2):
        space.remember([MemoryIn(f"fact {i}", id=f"s{i}") for i in range(generation * 3, generation * 3 + 3)], NOW)
        space.snapshot()
    space.remember([MemoryIn("tail fact", id="t0")], NOW)
    space.close()
    registry = Registry(root)
    registry.load()
    registry.update_policy("big", POLICY)
    registry.create("gone", DIM)
    registry.delete("gone")
    return {f"s{i}" for i in range(6)} | {"t0"}


def memories_of(root: Path, space_id: str) -> set[str]:
    space, report = Space.open(root, space_id, DIM, NOW)
    try:
        assert report.clean, report.summary()
        return {m.id for m in space.list(0, 100, True).memories}
    finally:
        space.close()


def test_the_copy_keeps_every_memory_and_the_registrys_policy_and_is_adopted(tmp_path: Path) -> None:
    expected = stopped_server_root(tmp_path)

    copied = copy_space(tmp_path, "big", "big-copy")

    assert (copied.new, copied.directory, copied.files > 0) == ("big-copy", tmp_path / "big-copy", True)
    assert memories_of(tmp_path, "big-copy") == expected
    assert memories_of(tmp_path, "big") == expected
    registry = Registry(tmp_path)
    assert registry.load() == ["big-copy"]
    entry = registry.get("big-copy")
    assert entry is not None and (entry.dim, entry.policy) == (DIM, POLICY)
    assert not list(tmp_path.glob(".copy-*"))


def test_nothing_is_copied_while_a_server_holds_the_data_root(tmp_path: Path) -> None:
    stopped_server_root(tmp_path)
    lock = os.open(tmp_path / "engram.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as the router holds it
        with pytest.raises(ServerRunning, match="stop it first"):
            copy_space(tmp_path, "big", "big-copy")
    finally:
        os.close(lock)
    assert not (tmp_path / "big-copy").exists()


@pytest.mark.parametrize(
    ("source", "new", "code"),
    [
        ("big", "big", ErrorCode.MEMORY_SPACE_EXISTS),
        ("big", "gone", ErrorCode.MEMORY_SPACE_EXISTS),  # a tombstone: the next start would purge the copy
        ("gone", "fresh", ErrorCode.MEMORY_SPACE_DELETED),
        ("nowhere", "fresh", ErrorCode.MEMORY_SPACE_NOT_FOUND),
        ("big", "Bad Id!", ErrorCode.INVALID_MEMORY_SPACE_ID),
    ],
)
def test_a_copy_that_would_lose_or_misplace_data_is_refused(tmp_path: Path, source, new, code) -> None:
    stopped_server_root(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(EngramError) as refused:
        copy_space(tmp_path, source, new)
    assert refused.value.code is code
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "engram.lock") == before


def test_a_failed_copy_leaves_nothing_and_a_crashed_ones_leftover_is_removed(tmp_path: Path) -> None:
    stopped_server_root(tmp_path)
    (tmp_path / ".copy-big-copy-1").mkdir()  # a copy killed halfway, long ago

    with mock.patch.object(space_copy, "_sync_tree", side_effect=OSError("disk full")), pytest.raises(OSError):
        copy_space(tmp_path, "big", "big-copy")

    assert not (tmp_path / "big-copy").exists() and not list(tmp_path.glob(".copy-*"))
    copy_space(tmp_path, "big", "big-copy")
    assert msgspec.json.decode((tmp_path / "big-copy" / "space.json").read_bytes())["id"] == "big-copy"
