"""Columns grow without copying while they fit in their reservation (workers/columns.py), and whatever way they
grow (widened views, a copy past the reservation, plain arrays where no mapping can be made) every row keeps its
values; compaction keeps the live rows in order."""

from __future__ import annotations

import json
import mmap
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workers import columns as columns_module
from workers.columns import INITIAL_CAPACITY_ROWS, SAVED_ARRAYS, Columns

DIM = 16


def append(columns: Columns, i: int) -> int:
    unit = np.full(DIM, float(i), dtype=np.float32)
    return columns.append(f"m{i}", f"text {i}", unit, float(i), i % 2 == 0, 0.5, float(i), float(i) + 1, i + 1)


def assert_rows(columns: Columns, expected: list[int]) -> None:
    """Row r holds what ``append(columns, expected[r])`` wrote."""
    n = len(expected)
    values = np.array(expected, dtype=np.float64)
    assert columns.rows == n and columns.ids == [f"m{i}" for i in expected]
    assert np.array_equal(columns.units[:n], np.repeat(values[:, None], DIM, axis=1).astype(np.float32))
    assert np.array_equal(columns.norms[:n], values)
    assert np.array_equal(columns.observed_at[:n], values)
    assert np.array_equal(columns.serials[:n], values.astype(np.int64) + 1)
    assert np.array_equal(columns.builtin[:n], values % 2 == 0)
    assert not columns.live[n:].any() and not columns.units[n:].any()  # rows not written yet are zero


def data_address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


def test_growing_within_the_reservation_widens_the_views_and_copies_nothing():
    columns = Columns(DIM)
    before = {name: data_address(getattr(columns, name)) for name in SAVED_ARRAYS}
    early_view = columns.units[:1]
    for i in range(INITIAL_CAPACITY_ROWS * 20):
        append(columns, i)

    assert columns.capacity == INITIAL_CAPACITY_ROWS * 32
    assert {name: data_address(getattr(columns, name)) for name in SAVED_ARRAYS} == before
    assert early_view[0, 0] == 0.0 and np.shares_memory(early_view, columns.units)
    assert_rows(columns, list(range(INITIAL_CAPACITY_ROWS * 20)))


def test_past_its_reservation_a_space_copies_into_a_larger_one_and_keeps_every_row(monkeypatch):
    row_bytes = DIM * 4 + 5 * 8 + 2 + 8
    monkeypatch.setattr(columns_module, "RESERVED_BYTES", row_bytes * 100)  # room for 100 rows
    columns = Columns(DIM)
    first = data_address(columns.units)
    kept_view = columns.units[:10]
    for i in range(300):
        append(columns, i)

    assert data_address(columns.units) != first  # it had to move
    assert kept_view[5, 0] == 5.0  # a view taken before the move still reads the old (valid) memory
    assert columns._reserved_rows >= columns_module.RESERVE_GROWTH * 256
    assert_rows(columns, list(range(300)))


def test_without_an_anonymous_mapping_plain_arrays_are_used(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise OSError("no address space")

    monkeypatch.setattr(columns_module.mmap, "mmap", refuse)
    columns = Columns(DIM)
    for i in range(INITIAL_CAPACITY_ROWS * 3):
        append(columns, i)
    assert columns._region is None and columns.capacity == INITIAL_CAPACITY_ROWS * 4
    assert_rows(columns, list(range(INITIAL_CAPACITY_ROWS * 3)))


def test_the_arrays_of_a_reservation_do_not_overlap():
    columns = Columns(DIM)
    assert isinstance(columns._region, mmap.mmap)
    names = list(SAVED_ARRAYS) + ["live"]
    for a in names:
        for b in names:
            if a < b:
                assert not np.shares_memory(getattr(columns, a), getattr(columns, b)), (a, b)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.just("append"), st.integers(0, 400), st.just("compact")), max_size=400))
def test_appends_tombstones_and_compactions_keep_the_live_rows_in_order(steps):
    columns = Columns(DIM)
    model: list[int] = []  # the written values of the rows, in row order, live or not
    live: set[int] = set()
    written = 0
    for step in steps:
        if step == "append":
            append(columns, written)
            model.append(written)
            live.add(written)
            written += 1
        elif step == "compact":
            if model:
                columns.compact()
                model = [value for value in model if value in live]
        elif step < len(model) and model[step] in live:
            columns.tombstone(step)
            live.discard(model[step])
    assert columns.rows == len(model) and columns.live_count == len(live)
    assert [columns.ids[row] for row in np.flatnonzero(columns.live[: columns.rows])] == [
        f"m{value}" for value in model if value in live
    ]
    rows = np.flatnonzero(columns.live[: columns.rows])
    assert np.array_equal(columns.norms[rows], np.array([v for v in model if v in live], dtype=np.float64))


@pytest.mark.parametrize("rows", [0, 1, 1000])
def test_columns_restored_from_a_snapshot_hold_its_rows_and_grow_from_there(rows):
    values = np.arange(rows, dtype=np.float64)
    arrays = {
        "units": np.repeat(values[:, None], DIM, axis=1).astype(np.float32),
        "norms": values,
        "confidence": np.full(rows, 0.5),
        "observed_at": values,
        "stored_at": values + 1,
        "last_access": values + 1,
        "builtin": values % 2 == 0,
        "serials": values.astype(np.int64) + 1,
    }
    columns = Columns.from_live_rows(DIM, arrays, [f"m{i}" for i in range(rows)], ["t"] * rows, rows + 1)
    append(columns, rows)
    assert_rows(columns, list(range(rows + 1)))


def _mapped_in_child(addresses: list[int], units: np.ndarray) -> tuple[list[bool], float]:
    """Fork; in the child, which of ``addresses`` are mapped, and the sum of ``units`` (only read when mapped)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, leave without the parent's cleanup
        code = 1
        try:
            os.close(read_end)
            ranges = []
            with open("/proc/self/maps") as maps:
                for line in maps:
                    start, end = (int(part, 16) for part in line.split()[0].split("-"))
                    ranges.append((start, end))
            mapped = [any(start <= address < end for start, end in ranges) for address in addresses]
            total = float(units.sum()) if mapped[0] else -1.0
            os.write(write_end, json.dumps([mapped, total]).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        mapped, total = json.loads(reader.read())
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return mapped, total


@pytest.mark.skipif(columns_module._MADV_DONTFORK is None, reason="MADV_DONTFORK is Linux-only")
def test_a_fork_gets_only_the_columns_it_was_given():
    """Forks leave every space's reservation out, except the one inside ``inherited_by_fork``: a snapshot child
    reads its own space's rows, and the fork does not pay for the page tables of the others."""
    given_to_child, left_out = Columns(DIM), Columns(DIM)
    for i in range(100):
        append(given_to_child, i)
        append(left_out, i)
    addresses = [data_address(given_to_child.units), data_address(left_out.units)]
    with given_to_child.inherited_by_fork():
        mapped, total = _mapped_in_child(addresses, given_to_child.units)
    assert mapped == [True, False]
    assert total == float(given_to_child.units.sum()) == DIM * sum(range(100))
    mapped, _ = _mapped_in_child(addresses, given_to_child.units)  # after the block it is left out again
    assert mapped == [False, False]
    assert_rows(given_to_child, list(range(100)))  # the parent's rows are untouched by all of it
