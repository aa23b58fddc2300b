"""A legacy single-space data directory is wrapped into default/, and nothing else under the root moves."""

from __future__ import annotations

from pathlib import Path

import msgspec

from router.legacy import wrap_legacy_layout
from router.registry import Registry


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
