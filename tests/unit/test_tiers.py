"""Index segments of an offloaded space move to warm/ and cold/ and come back on open, searching exactly as before;
interrupted or damaged moves lose nothing."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from tests.unit.test_index import DIM, NOW, compact, remember, unit_queries
from workers import tiers
from workers.segments import load_manifest, segment_files
from workers.space import Space

QUERIES = unit_queries(20, seed=5)


def indexed_space(root: Path) -> tuple[Path, list[list[str]]]:
    """A closed space with two sealed segments, 50 buffered memories and a snapshot; its answers to ``QUERIES``."""
    space, _ = Space.open(root, "alpha", DIM, NOW)
    for batch in range(2):
        remember(space, batch * 100, 100, seed=batch)
        assert compact(space) == 1
    remember(space, 200, 50, seed=9)
    space.delete("m7", NOW)
    space.snapshot()
    answers = search_all(space)
    space.close()
    return root / "alpha", answers


def search_all(space: Space) -> list[list[str]]:
    return [[space._columns.ids[row] for row in space._similar(query, 10)[0]] for query in QUERIES]


def segment_file_names(space_dir: Path) -> set[str]:
    hot = space_dir / "hot"
    return {p.name for info in load_manifest(hot).segments for p in segment_files(hot, info.name)}


def names_in(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()} if directory.is_dir() else set()


def reopen(space_dir: Path) -> tuple[Space, list[list[str]]]:
    space, _ = Space.open(space_dir.parent, space_dir.name, DIM, NOW)
    return space, search_all(space)


@pytest.mark.parametrize("path", [["warm"], ["cold"], ["warm", "cold"]])
def test_segments_demoted_then_loaded_by_open_answer_exactly_as_before(tmp_path: Path, path: list[str]) -> None:
    space_dir, before = indexed_space(tmp_path)
    files = segment_file_names(space_dir)
    assert len(files) == 6

    for tier in path:
        moved = tiers.demote(space_dir, tier)  # type: ignore[arg-type]
        assert set(moved.files) == files
    final = path[-1]
    assert tiers.tier_of(space_dir) == final
    assert files.isdisjoint(names_in(space_dir / "hot"))
    suffix = tiers.COLD_SUFFIX if final == "cold" else ""
    assert names_in(space_dir / final) == {name + suffix for name in files}
    assert any(p.name.startswith("snapshot-") for p in (space_dir / "hot").iterdir())  # snapshots stay hot

    space, after = reopen(space_dir)

    assert space.index.segment_count == 2 and after == before
    assert tiers.tier_of(space_dir) == "hot" and not names_in(space_dir / "warm") | names_in(space_dir / "cold")
    space.close()


def test_cold_files_are_compressed_and_round_trip_byte_for_byte(tmp_path: Path) -> None:
    space_dir, _ = indexed_space(tmp_path)
    originals = {name: (space_dir / "hot" / name).read_bytes() for name in segment_file_names(space_dir)}

    moved = tiers.demote(space_dir, "cold")
    for name, data in originals.items():
        assert gzip.decompress((space_dir / "cold" / (name + tiers.COLD_SUFFIX)).read_bytes()) == data
    assert moved.bytes_in == sum(len(d) for d in originals.values()) > moved.bytes_out
    promoted = tiers.promote(space_dir)

    assert set(promoted.files) == set(originals)
    assert {name: (space_dir / "hot" / name).read_bytes() for name in originals} == originals


def test_a_damaged_cold_file_is_dropped_and_its_memories_are_still_found(tmp_path: Path) -> None:
    space_dir, before = indexed_space(tmp_path)
    tiers.demote(space_dir, "cold")
    victim = next(p for p in (space_dir / "cold").iterdir() if p.name.endswith(".nnd.gz"))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))

    space, after = reopen(space_dir)

    assert space.index.segment_count == 1  # the damaged segment's memories are searched exactly instead
    assert after == before
    assert not names_in(space_dir / "cold")
    space.close()


def test_an_interrupted_demotion_leaves_a_usable_copy_and_promote_keeps_the_hot_one(tmp_path: Path) -> None:
    space_dir, before = indexed_space(tmp_path)
    hot_copies = {name: (space_dir / "hot" / name).read_bytes() for name in segment_file_names(space_dir)}
    tiers.demote(space_dir, "warm")
    for name, data in hot_copies.items():  # a crash after the copies were written, before the sources went
        (space_dir / "hot" / name).write_bytes(data)
    (space_dir / "warm" / ".seg-000001-abcdef.nnd.tier.tmp").write_bytes(b"half a copy")

    space, after = reopen(space_dir)

    assert after == before and space.index.segment_count == 2
    assert not names_in(space_dir / "warm")
    space.close()


def test_demoting_an_unindexed_space_moves_nothing_and_opens_fine(tmp_path: Path) -> None:
    space, _ = Space.open(tmp_path, "alpha", DIM, NOW)
    remember(space, 0, 10, seed=1)
    space.close()

    assert tiers.demote(tmp_path / "alpha", "cold").files == []
    assert tiers.tier_of(tmp_path / "alpha") == "hot"
    assert Space.open(tmp_path, "alpha", DIM, NOW)[0].count == 10


def test_demote_refuses_an_unknown_tier(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="warm"):
        tiers.demote(tmp_path, "hot")


def test_a_snapshot_keeps_serials_so_loaded_segments_still_find_their_memories(tmp_path: Path) -> None:
    """Snapshots save live rows only (rows renumber), while segments name memories by serial."""
    space_dir, before = indexed_space(tmp_path)

    space, after = reopen(space_dir)

    assert space.recovery.snapshot == 1 and space.index.segment_count == 2 and after == before
    assert space.index.buffer_count() == 50
    queries = np.stack(QUERIES)
    exact = [
        [space._columns.ids[r] for r in np.argsort(-(space._columns.units[: space._columns.rows] @ q))[:10]]
        for q in queries
    ]
    assert after == exact
    space.close()
