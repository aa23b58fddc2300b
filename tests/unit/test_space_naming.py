"""A space directory renamed with engram/space_naming.py opens under its new id with every memory; one renamed
without it loses what its snapshot covers (the snapshot names the old space and is refused)."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engram import space_naming
from engram.protocol import MemoryIn
from workers import snapshot
from workers.space import Space

DIM = 8
NOW = 1_700_000_000.0
SNAPSHOTTED = 6
TAIL = 3


def space_with_snapshot_and_tail(root: Path, space_id: str) -> set[str]:
    """A space whose first memories only its snapshots hold (the log both cover is deleted), then a log tail."""
    space, _ = Space.open(root, space_id, DIM, NOW)
    for generation in range(2):  # two snapshots: the log both cover is deleted
        batch = range(generation * SNAPSHOTTED // 2, (generation + 1) * SNAPSHOTTED // 2)
        space.remember([MemoryIn(f"snapshotted fact {i}", id=f"s{i}") for i in batch], NOW)
        space.snapshot()
    space.remember([MemoryIn(f"tail fact {i}", id=f"t{i}") for i in range(TAIL)], NOW)
    space.close()
    return {f"s{i}" for i in range(SNAPSHOTTED)} | {f"t{i}" for i in range(TAIL)}


def stored_ids(root: Path, space_id: str) -> tuple[set[str], list[str]]:
    space, report = Space.open(root, space_id, DIM, NOW)
    try:
        return {m.id for m in space.list(0, 1000, True).memories}, report.problems()
    finally:
        space.close()


def test_a_copied_directory_keeps_every_memory_only_when_its_files_are_renamed(tmp_path: Path) -> None:
    expected = space_with_snapshot_and_tail(tmp_path, "alpha")
    shutil.copytree(tmp_path / "alpha", tmp_path / "by-hand")
    shutil.copytree(tmp_path / "alpha", tmp_path / "renamed")

    changed = space_naming.rename_space(tmp_path / "renamed", "renamed")

    assert [p.relative_to(tmp_path / "renamed").as_posix() for p in changed] == [
        "space.json",
        *(
            f"hot/{snapshot.dir_name(g)}/{snapshot.MANIFEST_FILE}"
            for g in sorted(snapshot.generations(tmp_path / "alpha" / "hot"))
        ),
    ]
    assert stored_ids(tmp_path, "renamed") == (expected, [])
    by_hand, problems = stored_ids(tmp_path, "by-hand")
    assert by_hand == expected - {f"s{i}" for i in range(SNAPSHOTTED // 2)}  # lost: what only snapshots held
    assert sum("rejected: it is of space 'alpha'" in p for p in problems) == 2
    assert stored_ids(tmp_path, "alpha") == (expected, [])  # the source is untouched


def test_renaming_twice_changes_nothing_the_second_time(tmp_path: Path) -> None:
    space_with_snapshot_and_tail(tmp_path, "alpha")
    before = {p: p.read_bytes() for p in space_naming.naming_files(tmp_path / "alpha")}
    assert space_naming.rename_space(tmp_path / "alpha", "alpha") == []
    assert {p: p.read_bytes() for p in space_naming.naming_files(tmp_path / "alpha")} == before
    assert len(space_naming.rename_space(tmp_path / "alpha", "beta")) == len(before)
    assert space_naming.rename_space(tmp_path / "alpha", "beta") == []


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@given(
    document=st.dictionaries(st.text(max_size=8), json_values, max_size=6),
    name=st.sampled_from(["space.json", "manifest.json"]),
    new_id=st.text(min_size=1, max_size=12),
)
def test_only_the_id_field_changes(tmp_path_factory: pytest.TempPathFactory, document, name, new_id) -> None:
    path = tmp_path_factory.mktemp("doc") / name
    path.write_bytes(msgspec.json.encode(document))
    field = "id" if name == "space.json" else "space"

    space_naming.rename_file(path, new_id)

    assert msgspec.json.decode(path.read_bytes()) == {**document, field: new_id}


@pytest.mark.parametrize("content", [b"[1, 2]", b"not json", b'"a string"'])
def test_a_file_that_is_not_an_object_is_reported_not_rewritten(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "space.json").write_bytes(content)
    with pytest.raises(space_naming.UnreadableNamingFile) as raised:
        space_naming.rename_space(tmp_path, "beta")
    assert raised.value.path == tmp_path / "space.json"
    assert (tmp_path / "space.json").read_bytes() == content
