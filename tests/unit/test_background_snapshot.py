"""Snapshots written by a forked child (workers/background_snapshot.py): the child saves the space as of the log's
cut even while the parent goes on changing it, a failed child loses nothing, and one child runs at a time."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from engram.protocol import MemoryIn
from workers import background_snapshot, snapshot, wal
from workers.background_snapshot import BackgroundSnapshots
from workers.space import Space
from workers.wal import segments, sequence_of

DIM = 8
NOW = 1_700_000_000.0
CHILD_DEADLINE_S = 30.0


def memory(i: int) -> MemoryIn:
    embedding = np.random.default_rng(i).standard_normal(DIM).astype("<f4").tobytes()
    return MemoryIn(f"memory number {i}", id=f"m{i}", embedding=embedding)  # type: ignore[arg-type]


def open_space(root: Path, name: str = "alpha") -> Space:
    return Space.open(root, name, DIM, NOW)[0]


def ids(space: Space) -> set[str]:
    return {m.id for m in space.list(0, 1000, True).memories}


def test_the_child_saves_the_space_as_of_the_cut_while_the_parent_changes_it(tmp_path, monkeypatch):
    go = tmp_path / "parent-changed-the-space"
    capture = background_snapshot.Space.write_snapshot

    def capture_after_the_parent_changed(space, cut):  # runs in the child: the fork inherits the patch
        deadline = time.monotonic() + CHILD_DEADLINE_S
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        (tmp_path / "child-pid").write_text(str(os.getpid()))
        return capture(space, cut)

    monkeypatch.setattr(background_snapshot.Space, "write_snapshot", capture_after_the_parent_changed)
    space = open_space(tmp_path)
    space.remember([memory(i) for i in range(20)], NOW)
    snapshots = BackgroundSnapshots()

    pid = snapshots.start("alpha", space)
    assert pid is not None and snapshots.running("alpha")
    space.remember([memory(i) for i in range(20, 30)], NOW)  # after the cut: in the log tail only
    space.delete("m0", NOW)
    go.touch()
    snapshots.wait("alpha")

    assert not snapshots.running("alpha")
    assert int((tmp_path / "child-pid").read_text()) == pid != os.getpid()
    assert snapshot.generations(tmp_path / "alpha" / "hot") == [1]
    manifest = snapshot.read_manifest(tmp_path / "alpha" / "hot", 1)
    assert (manifest.rows, manifest.wal_cut) == (20, 1)  # the state at the cut, not the parent's later one
    tail = space.wal_bytes_since_snapshot
    after_cut = [path for path in segments(tmp_path / "alpha" / "wal") if sequence_of(path) > manifest.wal_cut]
    assert 0 < tail == sum(wal.record_bytes(path) for path in after_cut)
    expected = ids(space)
    space.close()

    reopened, report = Space.open(tmp_path, "alpha", DIM, NOW)
    assert (report.snapshot, report.snapshot_rows, report.records) == (1, 20, 11)
    assert ids(reopened) == expected == {f"m{i}" for i in range(1, 30)}
    reopened.close()


def test_a_failed_child_keeps_the_whole_log_and_the_space_is_retried_later(tmp_path):
    space = open_space(tmp_path)
    space.remember([memory(i) for i in range(5)], NOW)
    before = space.wal_bytes_since_snapshot
    (tmp_path / "alpha" / "hot" / ".snapshot-000000000001.tmp").write_text("in the way")  # rmtree of it fails
    snapshots = BackgroundSnapshots()

    assert snapshots.start("alpha", space) is not None
    snapshots.wait("alpha")

    assert snapshot.generations(tmp_path / "alpha" / "hot") == []
    assert space.wal_bytes_since_snapshot == before  # the next open still replays everything
    now = time.monotonic()
    assert not snapshots.may_start("alpha", now)
    assert snapshots.may_start("alpha", now + background_snapshot.RETRY_AFTER_FAILURE_S + 1)
    assert snapshots.may_start("beta", now)  # other spaces are not held back
    space.close()
    reopened, report = Space.open(tmp_path, "alpha", DIM, NOW)
    assert report.snapshot is None and ids(reopened) == {f"m{i}" for i in range(5)}
    reopened.close()


def test_one_child_runs_at_a_time_and_reap_finishes_it_without_blocking(tmp_path):
    alpha, beta = open_space(tmp_path, "alpha"), open_space(tmp_path, "beta")
    alpha.remember([memory(1)], NOW)
    beta.remember([memory(2)], NOW)
    snapshots = BackgroundSnapshots()

    snapshots.start("alpha", alpha)
    assert snapshots.writing and not snapshots.may_start("beta", time.monotonic())
    deadline = time.monotonic() + CHILD_DEADLINE_S
    finished: list[str] = []
    while not finished and time.monotonic() < deadline:
        finished = snapshots.reap()
        time.sleep(0.01)

    assert finished == ["alpha"] and alpha.wal_bytes_since_snapshot == 0 and not snapshots.writing
    assert snapshots.may_start("beta", time.monotonic())
    assert snapshots.start("beta", beta) is not None
    snapshots.wait_all()
    assert beta.wal_bytes_since_snapshot == 0
    assert snapshots.start("beta", beta) is None  # nothing logged since: no child at all
    alpha.close(), beta.close()


def test_a_killed_child_is_reported_as_failed_and_leaves_no_snapshot(tmp_path, monkeypatch):
    def never_finishes(space, cut):
        time.sleep(CHILD_DEADLINE_S)

    monkeypatch.setattr(background_snapshot.Space, "write_snapshot", never_finishes)
    space = open_space(tmp_path)
    space.remember([memory(1)], NOW)
    snapshots = BackgroundSnapshots()
    pid = snapshots.start("alpha", space)
    assert pid is not None

    os.kill(pid, signal.SIGKILL)
    snapshots.wait("alpha")

    assert snapshot.generations(tmp_path / "alpha" / "hot") == []
    assert not snapshots.may_start("alpha", time.monotonic())
    assert space.wal_bytes_since_snapshot > 0
    space.close()


@given(
    tail=st.integers(0, 10**10),
    size=st.integers(0, 10**10),
    wal_bytes=st.integers(0, 10**8),
    ratio=st.floats(0, 4, allow_nan=False),
)
def test_a_snapshot_is_due_past_both_the_fixed_threshold_and_the_share_of_the_space(tail, size, wal_bytes, ratio):
    due = background_snapshot.snapshot_due(tail, size, wal_bytes, ratio)
    if wal_bytes == 0:
        assert not due  # periodic snapshots are off
    elif tail < wal_bytes or tail < ratio * size:
        assert not due
    else:
        assert due
        assert tail * 1.0 >= ratio * size  # what is rewritten is at most 1/ratio of what was logged since


def test_a_big_space_waits_for_its_share_and_a_small_one_for_the_fixed_threshold():
    mib = 1 << 20
    assert background_snapshot.snapshot_due(16 * mib, 1 * mib, 16 * mib, 0.5)
    assert not background_snapshot.snapshot_due(16 * mib, 3000 * mib, 16 * mib, 0.5)
    assert background_snapshot.snapshot_due(1500 * mib, 3000 * mib, 16 * mib, 0.5)
    assert background_snapshot.snapshot_due(16 * mib, 3000 * mib, 16 * mib, 0.0)
