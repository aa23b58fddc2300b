"""A batch's logs are synced with one syncfs when it wrote several, with their own fdatasync when it wrote one, and
a failure is pinned on the space it belongs to (real spaces and logs on disk; the system calls are counted)."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pytest

from engram.protocol import MemoryIn
from workers import faults, linux, wal
from workers.durability import BatchSync
from workers.space import Space

DIM = 4
NOW = 1_700_000_000.0

pytestmark = pytest.mark.skipif(linux.syncfs_function() is None, reason="syncfs needs Linux 5.8 or later")


@pytest.fixture
def calls(monkeypatch) -> dict[str, list]:
    """Counts fdatasync and syncfs calls while still making them."""
    seen: dict[str, list] = {"fdatasync": [], "syncfs": []}
    real_fdatasync = wal.os.fdatasync
    monkeypatch.setattr(wal.os, "fdatasync", lambda fd: (seen["fdatasync"].append(fd), real_fdatasync(fd))[1])
    real_syncfs = linux.syncfs_function()
    monkeypatch.setattr(linux, "syncfs_function", lambda: lambda fd: (seen["syncfs"].append(fd), real_syncfs(fd))[1])
    return seen


def _spaces(root: Path, *names: str) -> dict[str, Space]:
    spaces = {name: Space.open(root, name, DIM, NOW)[0] for name in names}
    for space in spaces.values():
        space.sync()  # creating the log is durable before the test starts counting
    return spaces


def _write(space: Space, memory_id: str) -> None:
    space.remember([MemoryIn(memory_id, id=memory_id, embedding=np.ones(DIM, "<f4").tobytes())], NOW)


def _all_written(root: Path, calls: dict[str, list]) -> tuple[dict[str, Space], BatchSync]:
    """Three spaces, each with a write not synced yet, and the counts cleared."""
    spaces = _spaces(root, "alpha", "beta", "gamma")
    calls["fdatasync"].clear()
    for name, space in spaces.items():
        _write(space, name)
    return spaces, BatchSync(root)


def test_several_written_logs_take_one_syncfs_and_no_fdatasync(tmp_path, calls):
    spaces, batch = _all_written(tmp_path, calls)
    assert batch.sync(spaces) == {}
    assert len(calls["syncfs"]) == 1 and calls["fdatasync"] == []
    assert not any(space.dirty for space in spaces.values())


def test_while_bulk_writes_are_in_flight_several_logs_are_synced_each_on_its_own(tmp_path, calls):
    spaces, batch = _all_written(tmp_path, calls)
    assert batch.sync(spaces, filesystem_wide=False) == {}
    assert calls["syncfs"] == [] and len(calls["fdatasync"]) == 3
    assert not any(space.dirty for space in spaces.values())


def test_one_written_log_keeps_its_own_fdatasync(tmp_path, calls):
    spaces = _spaces(tmp_path, "alpha", "beta")
    batch = BatchSync(tmp_path)
    calls["fdatasync"].clear()
    _write(spaces["alpha"], "only")
    assert batch.sync(spaces) == {}
    assert calls["syncfs"] == [] and len(calls["fdatasync"]) == 1
    assert not spaces["alpha"].dirty


def test_a_failed_syncfs_falls_back_to_each_log_on_its_own(tmp_path, monkeypatch):
    monkeypatch.setattr(linux, "syncfs_function", lambda: lambda fd: -1)
    spaces = _spaces(tmp_path, "alpha", "beta")
    for name, space in spaces.items():
        _write(space, name)
    synced: list[int] = []
    real_fdatasync = wal.os.fdatasync
    monkeypatch.setattr(wal.os, "fdatasync", lambda fd: (synced.append(fd), real_fdatasync(fd))[1])
    assert BatchSync(tmp_path).sync(spaces) == {}
    assert len(synced) == 2 and not any(space.dirty for space in spaces.values())


def test_a_failing_log_fails_its_own_space_only_when_synced_together(tmp_path, calls, monkeypatch):
    faults_path = tmp_path / "faults.json"
    faults_path.write_text(json.dumps({"beta": "eio_fsync"}))
    monkeypatch.setattr(faults, "_path", str(faults_path))
    monkeypatch.setattr(faults, "_read_at", float("-inf"))
    spaces = _spaces(tmp_path / "data", "alpha", "beta", "gamma")
    for name, space in spaces.items():
        _write(space, name)
    failed = BatchSync(tmp_path / "data").sync(spaces)
    assert list(failed) == ["beta"] and failed["beta"].errno == errno.EIO
    assert len(calls["syncfs"]) == 1
    assert not spaces["alpha"].dirty and not spaces["gamma"].dirty
    with pytest.raises(OSError):  # the failed log is unusable: nothing more may be acknowledged through it
        spaces["beta"].sync()


def test_clean_logs_are_left_alone(tmp_path, calls):
    spaces = _spaces(tmp_path, "alpha", "beta")
    calls["fdatasync"].clear()
    assert BatchSync(tmp_path).sync(spaces) == {}
    assert calls == {"fdatasync": [], "syncfs": []}
