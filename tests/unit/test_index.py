"""A space's similarity index (exact buffer + sealed segments) answers as an exact scan would, through deletes,
replacements, filters, row compaction, restarts and lost segment files.

Segments here are built by the real compaction code (plan, prepare, the builder's ``execute``, install) around an
exact stand-in for pynndescent with the same query signature, so every result can be compared with an exact scan
and no test pays numba's JIT. The real pynndescent path is covered by tests/live/test_index.py and measured by
bench/recall_quality.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from engram.protocol import MemoryIn
from workers import columns as columns_module
from workers.builder import execute
from workers.compaction import install, plan, prepare
from workers.records import PutRecord, decode_record, encode_record
from workers.space import Space
from workers.wal import WalWriter, replay

DIM = 16
NOW = 1_700_000_000.0
SEAL_ROWS = 100


class ExactIndex:
    """pynndescent's ``query`` signature over an exact scan: a segment built with it must give exact results."""

    def __init__(self, vectors: np.ndarray) -> None:
        self._raw_data = np.array(vectors, dtype=np.float32)

    def query(self, query_data: np.ndarray, k: int, epsilon: float, pre_normalized: bool) -> tuple:
        scores = self._raw_data @ query_data[0]
        order = np.argsort(-scores, kind="stable")[:k]
        return order[None, :], (1.0 - scores[order])[None, :]


def compact(space: Space, seal_rows: int = SEAL_ROWS) -> int:
    """Run compaction jobs to completion, one after the other, until the policy wants none; return how many."""
    jobs = 0
    while (chosen := plan(space.index, seal_rows)) is not None:
        jobs += 1
        job, message = prepare(space.index, chosen, jobs)
        install(space.index, job, execute(message, ExactIndex))
    return jobs


def vectors(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, DIM)).astype(np.float32)


def remember(space: Space, start: int, count: int, seed: int) -> None:
    batch = [
        MemoryIn(f"memory {start + i}", id=f"m{start + i}", embedding=v.astype("<f4").tobytes())
        for i, v in enumerate(vectors(count, seed))
    ]
    space.remember(batch, NOW)
    space.sync()


def exact_ids(space: Space, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[str]:
    c = space._columns
    mask = c.live[: c.rows] if allowed is None else c.live[: c.rows] & allowed
    rows = np.flatnonzero(mask)
    order = np.argsort(-(c.units[rows] @ query), kind="stable")[:k]
    return [c.ids[row] for row in rows[order]]


def similar_ids(space: Space, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[str]:
    rows, scores = space._similar(query, k, allowed)
    assert np.all(np.diff(scores) <= 0), "best first"
    np.testing.assert_allclose(scores, space._columns.units[rows] @ query, rtol=1e-5)
    return [space._columns.ids[row] for row in rows]


def unit_queries(count: int, seed: int) -> list[np.ndarray]:
    return [q / np.linalg.norm(q) for q in vectors(count, seed)]


def assert_exact(space: Space, k: int = 10, allowed: np.ndarray | None = None) -> None:
    for query in unit_queries(15, seed=99):
        assert similar_ids(space, query, k, allowed) == exact_ids(space, query, k, allowed)


@pytest.fixture
def space(tmp_path: Path) -> Iterator[Space]:
    opened, _ = Space.open(tmp_path, "alpha", DIM, NOW)
    yield opened
    opened.close()


@pytest.fixture
def indexed(space: Space) -> Space:
    """450 memories: three sealed segments and 150 more in the exact buffer."""
    for batch in range(3):
        remember(space, batch * 100, 100, seed=batch)
        assert compact(space) == 1
    remember(space, 300, 150, seed=3)
    assert (space.index.segment_count, space.index.buffer_count()) == (3, 150)
    return space


def test_search_over_buffer_and_segments_is_the_exact_top_k(indexed: Space) -> None:
    assert_exact(indexed, k=10)
    assert_exact(indexed, k=1)
    assert_exact(indexed, k=500)  # more than there are: every live memory, best first


def test_deleted_and_replaced_memories_are_gone_from_segments_and_buffer(indexed: Space) -> None:
    in_segment, in_buffer = "m42", "m420"
    old = {mid: indexed._columns.units[indexed._columns.row_of[mid]].copy() for mid in (in_segment, in_buffer)}
    indexed.delete("m43", NOW)
    indexed.delete("m421", NOW)
    fresh = vectors(2, seed=77)
    for memory_id, vector in zip((in_segment, in_buffer), fresh, strict=True):
        indexed.remember([MemoryIn("replaced", id=memory_id, embedding=vector.astype("<f4").tobytes())], NOW)

    for memory_id, vector in old.items():
        rows, scores = indexed._similar(vector, 5)
        ids = [indexed._columns.ids[row] for row in rows]
        assert "m43" not in ids and "m421" not in ids
        if memory_id in ids:  # only as its new self, with the new vector's similarity
            new_unit = indexed._columns.units[indexed._columns.row_of[memory_id]]
            assert scores[ids.index(memory_id)] == pytest.approx(float(new_unit @ vector), abs=1e-5)
        assert scores[0] < 0.999  # the old vector itself is not found any more
    for memory_id, vector in zip((in_segment, in_buffer), fresh, strict=True):
        hits = indexed.recall(None, vector.astype("<f4").tobytes(), 0.0, 3, NOW, mode="similarity").hits
        assert hits[0].memory.id == memory_id and hits[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert_exact(indexed)


def test_an_allowed_mask_is_honoured_inside_segments(indexed: Space) -> None:
    c = indexed._columns
    assert_exact(indexed, allowed=np.arange(c.rows) % 2 == 0)
    sparse = np.zeros(c.rows, dtype=bool)
    sparse[[3, 150, 260, 444]] = True  # far fewer than k: the segments are scanned exactly
    assert sorted(similar_ids(indexed, unit_queries(1, 5)[0], 10, sparse)) == sorted(
        c.ids[r] for r in (3, 150, 260, 444)
    )


def test_rows_moved_by_a_columns_compaction_are_still_found_by_serial(
    indexed: Space, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(columns_module, "COMPACT_MIN_TOMBSTONES", 10)
    for i in range(0, 450, 3):
        indexed.delete(f"m{i}", NOW)
    for i in range(1, 450, 3):
        indexed.delete(f"m{i}", NOW)
    assert indexed._columns.rows < 450  # tombstones were dropped: the rows after them moved
    assert_exact(indexed)


def test_segments_count_their_deleted_rows_and_compaction_dissolves_mostly_dead_ones(indexed: Space) -> None:
    first = indexed.index.segments[0]
    for i in range(70):
        indexed.delete(f"m{i}", NOW)
    assert first.live == 30
    compact(indexed)
    assert first not in indexed.index.segments
    assert_exact(indexed)


def test_reopening_loads_the_segments_instead_of_rebuilding_them(tmp_path: Path, indexed: Space) -> None:
    hot = tmp_path / "alpha" / "hot"
    built = {path.name: path.stat().st_mtime_ns for path in hot.glob("*.nnd")}
    last_serial = int(indexed._columns.serials[indexed._columns.rows - 1])
    indexed.close()

    reopened, _ = Space.open(tmp_path, "alpha", DIM, NOW)
    try:
        assert (reopened.index.segment_count, reopened.index.buffer_count()) == (3, 150)
        assert plan(reopened.index, SEAL_ROWS * 2) is None  # nothing to build again
        assert {path.name: path.stat().st_mtime_ns for path in hot.glob("*.nnd")} == built
        assert_exact(reopened)
        remember(reopened, 1000, 1, seed=8)
        assert reopened._columns.serials[reopened._columns.rows - 1] == last_serial + 1
    finally:
        reopened.close()


def test_a_lost_segment_file_falls_back_to_exact_search_and_is_sealed_again(tmp_path: Path, indexed: Space) -> None:
    lost = indexed.index.segments[1].name
    indexed.close()
    (tmp_path / "alpha" / "hot" / f"{lost}.nnd").unlink()

    reopened, _ = Space.open(tmp_path, "alpha", DIM, NOW)
    try:
        assert (reopened.index.segment_count, reopened.index.buffer_count()) == (2, 250)
        assert not list((tmp_path / "alpha" / "hot").glob(f"{lost}*"))  # its leftovers were swept
        assert_exact(reopened)
        assert compact(reopened) >= 1
        assert reopened.index.buffer_count() == 0
        assert_exact(reopened)
    finally:
        reopened.close()


def test_a_damaged_manifest_means_exact_search_not_a_failed_open(tmp_path: Path, indexed: Space) -> None:
    indexed.close()
    (tmp_path / "alpha" / "hot" / "index.json").write_text("{not json")

    reopened, _ = Space.open(tmp_path, "alpha", DIM, NOW)
    try:
        assert (reopened.index.segment_count, reopened.index.buffer_count()) == (0, 450)
        assert not list((tmp_path / "alpha" / "hot").glob("seg-*"))
        assert_exact(reopened)
    finally:
        reopened.close()


def test_serials_are_logged_increasing_and_restored_by_replay(tmp_path: Path, space: Space) -> None:
    remember(space, 0, 5, seed=1)
    space.delete("m2", NOW)
    remember(space, 2, 1, seed=2)  # m2 again: a new write, a new serial
    space.close()
    puts = [r for r in map(decode_record, replay(tmp_path / "alpha" / "wal")[0]) if isinstance(r, PutRecord)]
    assert [r.serial for r in puts] == [1, 2, 3, 4, 5, 6]

    reopened, _ = Space.open(tmp_path, "alpha", DIM, NOW)
    c = reopened._columns
    assert [int(c.serials[c.row_of[f"m{i}"]]) for i in range(5)] == [1, 2, 6, 4, 5]
    reopened.close()


def test_records_written_before_serials_get_them_on_replay(tmp_path: Path) -> None:
    opened, _ = Space.open(tmp_path, "legacy", DIM, NOW)
    opened.close()
    wal = WalWriter.open(tmp_path / "legacy" / "wal")
    for i, vector in enumerate(vectors(3, seed=4)):
        wal.append(encode_record(PutRecord(f"m{i}", "old", vector.astype("<f4").tobytes(), "client", 0.7, NOW, NOW)))
    wal.close()

    reopened, _ = Space.open(tmp_path, "legacy", DIM, NOW)
    try:
        remember(reopened, 3, 1, seed=5)
        assert list(reopened._columns.serials[:4]) == [1, 2, 3, 4]
    finally:
        reopened.close()
