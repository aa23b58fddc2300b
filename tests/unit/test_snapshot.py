"""A space opened from a snapshot plus its log tail is the space a full replay gives; damaged snapshots fall back to
the previous generation, then to the log, and what is lost is reported, never raised."""

from __future__ import annotations

import tempfile
import zlib
from pathlib import Path

import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engram.errors import EngramError
from engram.protocol import EpisodeContext, MemoryIn
from workers import columns, quotas, snapshot, wal
from workers.space import Space
from workers.wal import frame, segments

DIM = 8
NOW = 1_700_000_000.0
WORDS = ["alpha", "beta", "gamma", "delta", "echo", "fox"]
IDS = [f"m{i}" for i in range(8)]


def vec(seed: int) -> bytes:
    return np.random.default_rng(seed).standard_normal(DIM).astype("<f4").tobytes()


def memory(i: int, text: str = "", **fields: object) -> MemoryIn:
    return MemoryIn(text or f"memory {i} about {WORDS[i % len(WORDS)]}", id=f"m{i}", **fields)  # type: ignore[arg-type]


def state(space: Space, now: float = NOW) -> tuple:
    """Everything reads show, without reinforcing anything (recall would log touches)."""
    listed = space.list(0, 1000, True)
    return (
        space.count,
        space.stored_bytes,
        listed,
        [space.get(m.id, now) for m in listed.memories],
        [space.search(word, 50, None) for word in WORDS],
    )


def link_weights_apart(state_of_space: tuple) -> tuple[object, list[float]]:
    """A state with its links' weights taken out, and those weights in order. Auto-link weights are float32 dot
    products computed when a memory is written, and such a product may differ in its last bit with the row layout
    (see ``recalls``): two spaces written alike, one of them restored from a snapshot of compacted rows, can store
    weights 6e-8 apart. Each space replays its own weights exactly; across the two they compare approximately."""
    weights: list[float] = []

    def strip(value: object) -> object:
        if isinstance(value, dict):
            if value.keys() == {"target", "weight", "kind"}:
                weights.append(value["weight"])
                return {**value, "weight": None}
            return {key: strip(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):  # to_builtins keeps tuples, such as the state itself
            return [strip(item) for item in value]
        return value

    return strip(msgspec.to_builtins(state_of_space)), weights


def assert_same_state(first: tuple, second: tuple) -> None:
    shape, weights = link_weights_apart(first)
    other_shape, other_weights = link_weights_apart(second)
    assert shape == other_shape
    assert weights == pytest.approx(other_weights, rel=1e-6)


def recalls(space: Space, now: float) -> list[dict[str, tuple]]:
    """Recall results as {id: (memory, score)}: a float32 dot product may differ in its last bit with the row
    layout (BLAS), as it does after any compaction of the rows, so scores are compared approximately and ties
    may come in either order."""
    return [
        {hit.memory.id: (hit.memory, hit.score, hit.retrieval, hit.depth) for hit in result.hits}
        for query in ("alpha beta", "memory fox", "m3")
        for mode in ("similarity", "hybrid")
        for result in [space.recall(query, None, 0.0, 10, now, mode=mode, time_budget_ms=10_000.0)]
    ]


def assert_same_recalls(a: list[dict[str, tuple]], b: list[dict[str, tuple]]) -> None:
    assert [hits.keys() for hits in a] == [hits.keys() for hits in b]
    for hits_a, hits_b in zip(a, b, strict=True):
        for memory_id, (memory_a, score_a, *how_a) in hits_a.items():
            memory_b, score_b, *how_b = hits_b[memory_id]
            assert (memory_a, how_a) == (memory_b, how_b)
            assert score_a == pytest.approx(score_b, rel=1e-5)


def space_dir(root: Path) -> Path:
    return root / "alpha"


def open_space(root: Path, **options: object) -> Space:
    return Space.open(root, "alpha", DIM, NOW, **options)[0]  # type: ignore[arg-type]


def snapshots_of(root: Path) -> list[int]:
    return snapshot.generations(space_dir(root) / "hot")


# -- snapshot + tail == full replay ------------------------------------------------------------------------------

memories_in = st.builds(
    lambda i, words, episode, client, auto_link: MemoryIn(
        " ".join(words),
        id=IDS[i],
        embedding=vec(i * 31 + len(words)) if client else None,
        tags=words[:2],
        metadata={"n": str(len(words))},
        episode=EpisodeContext(where_location=episode[0], who=[episode[1]]) if episode else None,
        auto_link=auto_link,
        link_threshold=0.1,
    ),
    st.integers(0, len(IDS) - 1),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=4),
    st.none() | st.tuples(st.sampled_from(["home", "work"]), st.sampled_from(["ann", "bob"])),
    st.booleans(),
    st.booleans(),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.lists(memories_in, min_size=1, max_size=4)),
        st.tuples(st.just("delete"), st.sampled_from(IDS)),
        st.tuples(st.just("link"), st.sampled_from(IDS), st.sampled_from(IDS)),
        st.tuples(st.just("recall"), st.sampled_from(WORDS)),
        st.tuples(st.just("snapshot")),
        st.tuples(st.just("reopen")),
    ),
    max_size=30,
)


def apply(space: Space, op: tuple, now: float, snapshots: bool) -> None:
    """One operation; a request the space refuses (unknown id, self-link) is refused alike in both spaces."""
    try:
        match op:
            case ("put", batch):
                space.remember(batch, now)
            case ("delete", memory_id):
                space.delete(memory_id, now)
            case ("link", source, target):
                space.associate(source, target, 0.5, now)
            case ("recall", word):
                space.recall(word, None, 0.0, 5, now, time_budget_ms=10_000.0)
            case ("snapshot",) if snapshots:
                space.snapshot()
    except EngramError:
        pass
    space.sync()


# Found by hypothesis: m0 written again after a snapshot links to m2 with a float32 weight that differs in its last
# bit between the snapshot-restored rows and the replayed ones; the weights must compare approximately.
LINKED_AGAIN_AFTER_A_SNAPSHOT = [
    ("put", [MemoryIn("alpha", id="m0", tags=["alpha"], metadata={"n": "1"}, auto_link=False, link_threshold=0.1)]),
    ("delete", "m0"),
    ("snapshot",),
    ("reopen",),
    (
        "put",
        [
            MemoryIn("alpha", id="m0", tags=["alpha"], metadata={"n": "1"}, auto_link=False, link_threshold=0.1),
            MemoryIn(
                "alpha alpha",
                id="m2",
                embedding=vec(2 * 31 + 2),
                tags=["alpha", "alpha"],
                metadata={"n": "2"},
                auto_link=False,
                link_threshold=0.1,
            ),
            MemoryIn("alpha", id="m0", tags=["alpha"], metadata={"n": "1"}, auto_link=True, link_threshold=0.1),
        ],
    ),
]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
@example(ops=LINKED_AGAIN_AFTER_A_SNAPSHOT)
def test_a_space_opened_from_snapshots_equals_a_full_replay_of_the_same_writes(
    monkeypatch: pytest.MonkeyPatch, ops: list[tuple]
) -> None:
    monkeypatch.setattr(columns, "COMPACT_MIN_TOMBSTONES", 2)  # rows move before snapshots are taken
    monkeypatch.setattr(wal, "SEGMENT_MAX_BYTES", 1500)  # several log segments, some deleted behind snapshots
    with tempfile.TemporaryDirectory() as tmp:
        with_snapshots, replayed_only = Path(tmp) / "snap", Path(tmp) / "log"
        a, b = open_space(with_snapshots), open_space(replayed_only)
        for step, op in enumerate(ops):
            now = NOW + step
            if op == ("reopen",):
                a.close(), b.close()
                a, b = open_space(with_snapshots), open_space(replayed_only)
                continue
            apply(a, op, now, snapshots=True)
            apply(b, op, now, snapshots=False)
        end = NOW + len(ops)
        before = state(a, end)
        assert_same_state(before, state(b, end))
        a.close(), b.close()

        a, report = Space.open(with_snapshots, "alpha", DIM, NOW)
        b = open_space(replayed_only)

        assert report.clean
        assert report.snapshot == (snapshots_of(with_snapshots)[0] if snapshots_of(with_snapshots) else None)
        assert state(a, end) == before  # reopened from its snapshot: exactly what it held
        assert_same_state(before, state(b, end))
        assert_same_recalls(recalls(a, end + 1), recalls(b, end + 1))
        a.close(), b.close()


# -- log truncation ------------------------------------------------------------------------------------------------


def test_log_segments_covered_by_both_kept_snapshots_are_deleted_and_reopening_still_works(tmp_path: Path) -> None:
    space = open_space(tmp_path)
    wal_dir = space_dir(tmp_path) / "wal"
    for generation in range(1, 5):
        space.remember([memory(i) for i in range(generation * 10, generation * 10 + 10)], NOW)
        report = space.snapshot()
        assert (report.generation, report.wal_cut, report.rows) == (generation, generation, generation * 10)
        # kept: this generation and the one before; the log behind the older one of them is gone
        assert report.wal_segments_removed == ([] if generation == 1 else [f"{generation - 1:012d}.log"])
    space.remember([memory(99)], NOW)
    expected = state(space)
    space.close()

    assert snapshots_of(tmp_path) == [4, 3]
    assert [p.name for p in segments(wal_dir)] == ["000000000004.log", "000000000005.log"]
    reopened, report = Space.open(tmp_path, "alpha", DIM, NOW)
    assert (report.snapshot, report.snapshot_rows, report.records, report.clean) == (4, 40, 1, True)
    assert state(reopened) == expected
    reopened.close()


def test_a_snapshot_of_an_unchanged_space_is_skipped(tmp_path: Path) -> None:
    space = open_space(tmp_path)
    space.remember([memory(1)], NOW)
    assert space.snapshot().generation == 1

    assert space.snapshot().generation is None
    space.remember([memory(2)], NOW)
    assert space.snapshot().generation == 2
    space.close()


def test_log_bytes_since_the_snapshot_grow_with_writes_and_restart_at_zero(tmp_path: Path) -> None:
    space = open_space(tmp_path)
    assert space.wal_bytes_since_snapshot == 0
    space.remember([memory(1), memory(2)], NOW)
    written = space.wal_bytes_since_snapshot
    assert written == sum(wal.record_bytes(p) for p in segments(space_dir(tmp_path) / "wal")) > 0

    space.snapshot()
    assert space.wal_bytes_since_snapshot == 0
    space.remember([memory(3)], NOW)
    tail = space.wal_bytes_since_snapshot
    space.close()

    reopened = open_space(tmp_path)
    assert 0 < tail == reopened.wal_bytes_since_snapshot < written
    reopened.close()


def test_stored_bytes_count_what_the_quota_counts_through_replacement_deletion_and_restarts(tmp_path: Path) -> None:
    space = open_space(tmp_path)
    memories = [memory(1, tags=["a", "bé"], metadata={"k": "vé"}), memory(2, "x" * 100), memory(3)]
    space.remember(memories, NOW)
    space.remember([memory(2, "short")], NOW)
    space.delete("m3", NOW)
    expected = quotas.memory_bytes(memories[0], DIM) + quotas.memory_bytes(memory(2, "short"), DIM)

    assert space.stored_bytes == expected
    space.close()
    replayed = open_space(tmp_path)
    assert replayed.stored_bytes == expected
    replayed.snapshot()
    replayed.close()
    assert open_space(tmp_path).stored_bytes == expected


# -- damaged snapshots ---------------------------------------------------------------------------------------------


def two_snapshots_and_a_tail(root: Path) -> tuple:
    """Generations 1 and 2 (at cuts 1 and 2, log segment 1 still there), one more write after; the state to expect."""
    space = open_space(root)
    space.remember([memory(i) for i in range(5)], NOW)
    space.snapshot()
    space.remember([memory(i) for i in range(5, 10)], NOW)
    space.associate("m1", "m7", 0.9, NOW)
    space.recall("alpha", None, 0.0, 3, NOW + 5, time_budget_ms=10_000.0)
    space.snapshot()
    space.delete("m2", NOW + 6)
    expected = state(space, NOW + 10)
    space.close()
    return expected


def snapshot_file(root: Path, generation: int, name: str) -> Path:
    return space_dir(root) / "hot" / snapshot.dir_name(generation) / name


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-7])


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "file", "reason"),
    [
        (truncate, "units.npy", "units.npy holds"),
        (flip_a_byte, "units.npy", "units.npy fails its checksum"),
        (flip_a_byte, "state.msgpack", "state.msgpack fails its checksum"),
        (Path.unlink, "serials.npy", "serials.npy is missing"),
        (Path.unlink, "manifest.json", "manifest.json is missing"),
        (truncate, "manifest.json", "manifest.json cannot be read"),
    ],
)
def test_a_damaged_newest_snapshot_falls_back_to_the_previous_one_and_loses_nothing(
    tmp_path: Path, damage, file: str, reason: str
) -> None:
    expected = two_snapshots_and_a_tail(tmp_path)
    damage(snapshot_file(tmp_path, 2, file))

    space, report = Space.open(tmp_path, "alpha", DIM, NOW)

    assert report.snapshot == 1 and report.records > 1  # generation 1, then the log after its cut
    (rejected,) = report.rejected
    assert rejected.generation == 2 and rejected.reason.startswith(reason)
    assert not report.clean and f"snapshot 2 rejected: {reason}" in report.summary()
    assert state(space, NOW + 10) == expected
    # set aside for forensics, so it never counts as one of the two kept generations again
    assert snapshots_of(tmp_path) == [1]
    assert (space_dir(tmp_path) / "hot" / (rejected.kept_as or "")).is_dir()
    assert space.snapshot().generation == 3  # numbers are never reused
    space.close()
    assert Space.open(tmp_path, "alpha", DIM, NOW)[1].snapshot == 3


def test_a_snapshot_whose_files_verify_but_disagree_is_rejected_too(tmp_path: Path) -> None:
    """A snapshot written by a buggy or foreign writer: checksums match what was written, but not each other."""
    expected = two_snapshots_and_a_tail(tmp_path)
    directory = space_dir(tmp_path) / "hot" / snapshot.dir_name(2)
    manifest = snapshot.read_manifest(space_dir(tmp_path) / "hot", 2)
    np.save(directory / "norms.npy", np.ones(3))  # three rows, not ten
    data = (directory / "norms.npy").read_bytes()
    manifest.files["norms.npy"] = snapshot.FileSum(len(data), zlib.crc32(data))
    (directory / "manifest.json").write_bytes(msgspec.json.encode(manifest))

    space, report = Space.open(tmp_path, "alpha", DIM, NOW)

    assert report.snapshot == 1 and "norms.npy has shape (3,)" in report.rejected[0].reason
    assert state(space, NOW + 10) == expected
    space.close()


def test_with_the_only_snapshot_damaged_the_whole_log_is_replayed_and_nothing_is_lost(tmp_path: Path) -> None:
    space = open_space(tmp_path)
    space.remember([memory(i) for i in range(5)], NOW)
    space.snapshot()  # one snapshot deletes no log: the log is its fallback
    space.remember([memory(i) for i in range(3, 8)], NOW)
    expected = state(space)
    space.close()
    flip_a_byte(snapshot_file(tmp_path, 1, "units.npy"))

    space, report = Space.open(tmp_path, "alpha", DIM, NOW)

    assert (report.snapshot, [r.generation for r in report.rejected]) == (None, [1])
    assert report.missing_segments is None and report.records == 10
    assert state(space) == expected
    space.close()


def test_when_snapshots_and_the_log_behind_them_are_lost_the_rest_is_served_and_the_loss_reported(
    tmp_path: Path,
) -> None:
    space = open_space(tmp_path)
    space.remember([memory(1)], NOW)
    space.snapshot()
    space.remember([memory(2)], NOW)
    space.snapshot()  # deletes segment 1 (both snapshots cover it)
    space.remember([memory(3)], NOW)
    space.close()
    for generation in (1, 2):
        truncate(snapshot_file(tmp_path, generation, "state.msgpack"))

    space, report = Space.open(tmp_path, "alpha", DIM, NOW)

    assert report.missing_segments == "000000000001.log"
    assert "log segments 000000000001.log are missing" in report.summary()
    assert [m.id for m in space.list(0, 10, False).memories] == ["m2", "m3"]  # m1 was only in segment 1
    space.close()


def test_a_corrupt_record_in_the_log_after_a_snapshot_keeps_the_snapshot_and_the_good_prefix(tmp_path: Path) -> None:
    space = open_space(tmp_path)
    space.remember([memory(i) for i in range(3)], NOW)
    space.snapshot()
    for i in range(3, 8):
        space.remember([memory(i)], NOW)
    space.close()
    (tail,) = [p for p in segments(space_dir(tmp_path) / "wal") if p.name == "000000000002.log"]
    data = bytearray(tail.read_bytes())
    record = len(data) // 5  # five records of equal size: damage the third one's payload
    data[2 * record + 20] ^= 0xFF
    tail.write_bytes(bytes(data))

    space, report = Space.open(tmp_path, "alpha", DIM, NOW)

    assert (report.snapshot, report.records, report.dropped_bytes) == (1, 2, 3 * record)
    assert report.dropped_reason is not None and report.dropped_reason.startswith("corrupt record")
    assert [m.id for m in space.list(0, 10, False).memories] == ["m0", "m1", "m2", "m3", "m4"]
    space.remember([memory(9)], NOW)  # appends follow the good prefix
    space.close()
    assert Space.open(tmp_path, "alpha", DIM, NOW)[0].count == 6


def test_a_missing_log_segment_right_after_the_snapshot_stops_replay_there(tmp_path: Path) -> None:
    space = open_space(tmp_path)
    space.remember([memory(1)], NOW)
    space.snapshot()
    space.remember([memory(2)], NOW)
    space._wal.roll()  # a segment boundary inside the tail
    space.remember([memory(3)], NOW)
    space.close()
    (space_dir(tmp_path) / "wal" / "000000000002.log").unlink()

    space, report = Space.open(tmp_path, "alpha", DIM, NOW)

    assert report.dropped_reason == "missing segment 000000000002.log"
    assert [m.id for m in space.list(0, 10, False).memories] == ["m1"]  # m3 might depend on what the hole held
    space.close()


def test_a_torn_tail_then_reopen_with_a_snapshot_appends_where_replay_reaches(tmp_path: Path) -> None:
    space = open_space(tmp_path)
    space.remember([memory(1)], NOW)
    space.snapshot()
    space.close()
    (tail,) = [p for p in segments(space_dir(tmp_path) / "wal") if p.name == "000000000002.log"]
    tail.write_bytes(frame(b"torn")[:9])

    space, report = Space.open(tmp_path, "alpha", DIM, NOW)
    assert (report.snapshot, report.dropped_reason) == (1, "torn record")
    space.remember([memory(2)], NOW)
    space.close()

    assert [m.id for m in open_space(tmp_path).list(0, 10, False).memories] == ["m1", "m2"]


# -- missing directories and leftovers ---------------------------------------------------------------------------


def test_a_space_whose_directory_is_missing_starts_empty_and_says_so(tmp_path: Path) -> None:
    space, report = Space.open(tmp_path, "alpha", DIM, NOW, expect_existing=True)

    assert space.count == 0 and report.directory_missing
    assert "directory was missing" in report.summary()
    space.remember([memory(1)], NOW)
    space.close()
    _, report = Space.open(tmp_path, "alpha", DIM, NOW, expect_existing=True)
    assert report.clean


def test_leftovers_of_an_interrupted_snapshot_are_removed_and_ignored(tmp_path: Path) -> None:
    space = open_space(tmp_path)
    space.remember([memory(1)], NOW)
    space.close()
    hot = space_dir(tmp_path) / "hot"
    (hot / ".snapshot-000000000001.tmp").mkdir()
    (hot / ".snapshot-000000000001.tmp" / "units.npy").write_bytes(b"half")
    (hot / ".trash-snapshot-000000000000").mkdir()

    space, report = Space.open(tmp_path, "alpha", DIM, NOW)

    assert report.clean and report.snapshot is None and space.count == 1
    assert sorted(p.name for p in hot.iterdir() if "snapshot" in p.name) == []
    space.close()


def test_an_empty_space_snapshots_and_reopens(tmp_path: Path) -> None:
    space = open_space(tmp_path)
    report = space.snapshot()
    space.close()

    reopened, recovery = Space.open(tmp_path, "alpha", DIM, NOW)
    assert (report.rows, recovery.snapshot, reopened.count) == (0, 1, 0)
    reopened.remember([memory(1)], NOW)
    assert reopened.get("m1").content == memory(1).content
    reopened.close()


def test_new_episodes_after_a_restart_from_a_snapshot_link_as_after_a_replay(tmp_path: Path) -> None:
    """The episode index (by place, person and time) is rebuilt from the snapshot in the order a replay builds it."""
    episodes = [
        MemoryIn(
            f"met {who} at {where}",
            id=f"e{i}",
            observed_at=NOW + 60 * i,
            episode=EpisodeContext(where_location=where, who=[who]),
        )  # fmt: skip
        for i, (where, who) in enumerate([("cafe", "ann"), ("park", "bob"), ("cafe", "bob"), ("cafe", "ann")])
    ]
    roots = {True: tmp_path / "snap", False: tmp_path / "log"}
    for snap, root in roots.items():
        space = open_space(root)
        space.remember(episodes[:3], NOW)
        space.remember([episodes[1]], NOW + 1)  # replaced: moves to the end of the insertion order
        if snap:
            space.snapshot()
        space.close()

    linked = {}
    for snap, root in roots.items():
        space = open_space(root)
        assert (space.recovery.snapshot is not None) == snap
        linked[snap] = space.remember([episodes[3]], NOW + 2)[0].links
        space.close()

    assert linked[True] == linked[False] and {link.kind for link in linked[True]} == {"episode", "temporal"}


def test_a_snapshot_that_fails_half_written_leaves_nothing_behind_and_the_space_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = open_space(tmp_path)
    space.remember([memory(i) for i in range(5)], NOW)
    space.snapshot()
    space.remember([memory(i) for i in range(5, 8)], NOW)
    tail = space.wal_bytes_since_snapshot

    def disk_full(path: Path, data: bytes) -> snapshot.FileSum:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(snapshot, "_write_file", disk_full)  # the arrays are written, then state.msgpack fails
    with pytest.raises(OSError, match="No space"):
        space.snapshot()
    monkeypatch.undo()

    assert space.wal_bytes_since_snapshot == tail  # the next attempt is still due
    assert sorted(p.name for p in (space_dir(tmp_path) / "hot").iterdir() if "snapshot" in p.name) == [
        snapshot.dir_name(1)
    ]
    space.remember([memory(9)], NOW)
    expected = state(space)
    space.close()
    reopened, report = Space.open(tmp_path, "alpha", DIM, NOW)
    assert report.clean and report.snapshot == 1 and state(reopened) == expected
    reopened.close()
