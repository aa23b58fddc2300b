"""A legacy single-space data directory is wrapped into default/, and nothing else under the root moves."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from unittest import mock

import msgspec
import pytest

from engram.protocol import MemoryIn
from router.legacy import legacy_entries, wrap_legacy_layout
from router.registry import Registry
from workers.consolidation import ConsolidationState
from workers.space import Space


def test_legacy_files_move_into_default_and_the_space_is_adopted(tmp_path: Path) -> None:
    (tmp_path / "wal").mkdir()
    (tmp_path / "wal" / "000000000001.log").write_bytes(b"log bytes")
    (tmp_path / "hot").mkdir()
    (tmp_path / "warm_tier.dat").write_bytes(b"warm")
    (tmp_path / "alpha").mkdir()  # a real space: stays
    (tmp_path / "alpha" / "space.json").write_bytes(b'{"id": "alpha", "dim": 4, "created_at": 1.0}')

    moved = wrap_legacy_layout(tmp_path, "default", 768)

    assert sorted(moved) == ["hot", "wal", "warm_tier.dat"]
    assert (tmp_path / "default" / "wal" / "000000000001.log").read_bytes() == b"log bytes"
    assert (tmp_path / "default" / "warm_tier.dat").read_bytes() == b"warm"
    assert not (tmp_path / "wal").exists() and (tmp_path / "alpha" / "space.json").exists()
    settings = msgspec.json.decode((tmp_path / "default" / "space.json").read_bytes())
    assert settings["id"] == "default" and settings["dim"] == 768
    registry = Registry(tmp_path)
    registry.load()
    assert {entry.id for entry in registry.entries()} == {"alpha", "default"}


def test_a_space_named_like_a_tier_is_not_legacy(tmp_path: Path) -> None:
    (tmp_path / "wal" / "wal").mkdir(parents=True)
    (tmp_path / "wal" / "space.json").write_bytes(b'{"id": "wal", "dim": 4, "created_at": 1.0}')
    (tmp_path / "hot").mkdir()  # an empty directory proves nothing either

    assert wrap_legacy_layout(tmp_path, "default", 768) == []
    assert not (tmp_path / "default").exists()


def test_an_existing_default_entry_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "space.json").write_bytes(b'{"id": "default", "dim": 8, "created_at": 1.0}')
    (tmp_path / "default" / "wal").mkdir(parents=True)
    (tmp_path / "wal").mkdir()
    (tmp_path / "wal" / "000000000001.log").write_bytes(b"legacy")

    moved = wrap_legacy_layout(tmp_path, "default", 768)

    assert moved == ["space.json"]
    assert (tmp_path / "wal" / "000000000001.log").exists()  # left for a person to merge
    assert msgspec.json.decode((tmp_path / "default" / "space.json").read_bytes())["dim"] == 8


DIM = 8
NOW = 1_700_000_000.0


def legacy_root_with_snapshot(root: Path) -> set[str]:
    """A pre-spaces data root as a real space leaves it: snapshots (naming the space 'default', as the old server's
    space was called), the log tail after them, space.json and consolidations.json, all directly under the root."""
    space, _ = Space.open(root, "default", DIM, NOW)
    for generation in range(2):  # two snapshots: the log both cover is deleted, so only they hold s0..s2
        space.remember(
            [MemoryIn(f"snapshotted {i}", id=f"s{i}") for i in range(generation * 3, generation * 3 + 3)], NOW
        )
        space.snapshot()
    space.remember([MemoryIn(f"tail {i}", id=f"t{i}") for i in range(2)], NOW)
    space.close()
    (root / "default" / "consolidations.json").write_bytes(b'{"patterns": [], "generated_at": 1.0}')
    for entry in list((root / "default").iterdir()):
        entry.rename(root / entry.name)
    (root / "default").rmdir()
    return {f"s{i}" for i in range(6)} | {"t0", "t1"}


@pytest.mark.parametrize("default_space", ["default", "tenant-zero"])
def test_a_wrap_under_any_default_space_name_keeps_every_memory(tmp_path: Path, default_space: str) -> None:
    expected = legacy_root_with_snapshot(tmp_path)

    wrap_legacy_layout(tmp_path, default_space, 768)

    space, report = Space.open(tmp_path, default_space, DIM, NOW)
    try:
        assert {m.id for m in space.list(0, 100, True).memories} == expected
        assert report.clean and report.snapshot is not None, report.summary()
    finally:
        space.close()
    assert msgspec.json.decode((tmp_path / default_space / "space.json").read_bytes())["id"] == default_space


def test_consolidations_json_moves_into_the_default_space(tmp_path: Path) -> None:
    legacy_root_with_snapshot(tmp_path)

    moved = wrap_legacy_layout(tmp_path, "default", 768)

    assert "consolidations.json" in moved
    assert not (tmp_path / "consolidations.json").exists()
    assert ConsolidationState(tmp_path / "default").snapshot(10).generated_at == 1.0  # read where a space keeps it


def test_a_lone_consolidations_json_left_by_an_older_wrap_is_not_a_legacy_layout(tmp_path: Path) -> None:
    (tmp_path / "consolidations.json").write_bytes(b"{}")
    (tmp_path / "default" / "wal").mkdir(parents=True)

    assert wrap_legacy_layout(tmp_path, "default", 768) == []
    assert (tmp_path / "consolidations.json").exists() and not (tmp_path / "default" / "consolidations.json").exists()


@pytest.mark.parametrize("markers", ["space.json", "log only"])
def test_a_wrap_interrupted_after_any_move_is_finished_by_the_next_start(tmp_path: Path, markers: str) -> None:
    legacy = tmp_path / "legacy"
    expected = legacy_root_with_snapshot(legacy)
    if markers == "log only":  # then wal/ with its logs is all that marks the root as legacy
        (legacy / "space.json").unlink()
    entries = [entry.name for entry in legacy_entries(legacy)]
    for crash_after in range(len(entries)):
        root = tmp_path / f"crash-{crash_after}"
        shutil.copytree(legacy, root)
        real_rename, renames = os.rename, []

        def crashing_rename(source, destination, _after=crash_after, _real=real_rename, _done=renames):
            if len(_done) == _after:
                raise KeyboardInterrupt("power cut")
            _done.append(source)
            _real(source, destination)

        with mock.patch("router.legacy.os.rename", crashing_rename), pytest.raises(KeyboardInterrupt):
            wrap_legacy_layout(root, "tenant-zero", DIM)
        wrap_legacy_layout(root, "tenant-zero", DIM)  # the next start

        assert not any((root / name).exists() for name in entries), crash_after
        space, report = Space.open(root, "tenant-zero", DIM, NOW)
        try:
            assert {m.id for m in space.list(0, 100, True).memories} == expected, crash_after
            assert report.clean, (crash_after, report.summary())
        finally:
            space.close()
