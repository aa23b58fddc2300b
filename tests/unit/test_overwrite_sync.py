"""Syncing overwrites: a log whose new records only overwrote zeros that an earlier fdatasync made durable is synced
by writing its pages and one flush of the disk's cache per batch (workers/wal.py, workers/durability.py). Real logs
on disk; the system calls are watched while still made."""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engram.protocol import MemoryIn
from workers import durability, faults, linux, wal
from workers.durability import BatchSync
from workers.space import Space

DIM = 4
NOW = 1_700_000_000.0
EXT4_HERE = durability.overwrites_in_place(os.stat("/tmp").st_dev, linux.read_mountinfo())
on_ext4 = pytest.mark.skipif(
    not EXT4_HERE or wal._sync_file_range is None, reason="overwrite syncs are used on ext4 only"
)


class Calls:
    """fdatasync, sync_file_range and syncfs calls made while the test runs (each still made for real)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fdatasync: list[int] = []
        self.ranges: list[tuple[int, int, int, int]] = []
        self.syncfs: list[int] = []
        real_fdatasync, real_range = os.fdatasync, wal._sync_file_range
        real_syncfs = linux.syncfs_function()
        monkeypatch.setattr(wal.os, "fdatasync", lambda fd: (self.fdatasync.append(fd), real_fdatasync(fd))[1])
        monkeypatch.setattr(durability.os, "fdatasync", wal.os.fdatasync)
        monkeypatch.setattr(
            wal,
            "_sync_file_range",
            lambda *args: (self.ranges.append(args), real_range(*args))[1],  # type: ignore[misc]
        )
        if real_syncfs is not None:
            monkeypatch.setattr(
                linux, "syncfs_function", lambda: lambda fd: (self.syncfs.append(fd), real_syncfs(fd))[1]
            )

    def clear(self) -> None:
        self.fdatasync.clear()
        self.ranges.clear()
        self.syncfs.clear()


@pytest.fixture
def calls(monkeypatch) -> Calls:
    return Calls(monkeypatch)


def _write(space: Space, memory_id: str) -> None:
    space.remember([MemoryIn(memory_id, id=memory_id, embedding=np.ones(DIM, "<f4").tobytes())], NOW)


def _spaces(root: Path, *names: str) -> dict[str, Space]:
    """Spaces with one record each, fdatasynced: their next records overwrite zeros already durable."""
    spaces = {name: Space.open(root, name, DIM, NOW)[0] for name in names}
    for name, space in spaces.items():
        _write(space, f"{name}-first")
        space.sync()
    return spaces


# -- which filesystems -------------------------------------------------------------------------------------------

MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
23 22 254:16 / /journaled rw - ext4 /dev/vdb rw,data=journal
24 22 0:25 / /cow rw - btrfs /dev/vdc rw,space_cache=v2
25 22 0:26 / /tmp rw - tmpfs tmpfs rw,size=1024k
"""


def test_only_ext4_without_data_journaling_overwrites_in_place():
    assert linux.filesystem_of(os.makedev(254, 0), MOUNTINFO) == ("ext4", ["rw", "discard"])
    assert linux.filesystem_of(os.makedev(9, 9), MOUNTINFO) is None
    expected = {(254, 0): True, (254, 16): False, (0, 25): False, (0, 26): False, (9, 9): False}
    found = {dev: durability.overwrites_in_place(os.makedev(*dev), MOUNTINFO) for dev in expected}
    assert found == expected or wal._sync_file_range is None


# -- the log's side --------------------------------------------------------------------------------------------


@on_ext4
def test_a_log_overwrites_only_once_a_full_sync_covered_its_zeros(tmp_path):
    writer = wal.WalWriter.open(tmp_path / "wal")
    writer.append(b"first")  # zeros written ahead now, not yet durable
    assert not writer.overwrites_only
    writer.sync()
    assert not writer.overwrites_only  # nothing waiting
    writer.append(b"second")
    assert writer.overwrites_only
    writer.sync()
    writer.close()
    reopened = wal.WalWriter.open(tmp_path / "wal")  # a crashed process may have left zeros no sync covered
    reopened.append(b"third")
    assert not reopened.overwrites_only
    reopened.close()
    assert wal.replay(tmp_path / "wal")[0] == [b"first", b"second", b"third"]


@on_ext4
def test_an_extension_or_a_new_segment_needs_a_full_sync_again(tmp_path):
    writer = wal.WalWriter.open(tmp_path / "wal")
    writer.append(b"x")
    writer.sync()
    writer.append(b"y" * wal.PREWRITE_BYTES)  # past the zeros: the log extends again
    assert not writer.overwrites_only
    writer.sync()
    writer.append(b"z")
    assert writer.overwrites_only
    writer.sync()
    writer.roll()
    writer.append(b"w")
    assert not writer.overwrites_only
    writer.close()


@on_ext4
def test_write_out_writes_exactly_the_records_since_the_last_sync(tmp_path, calls):
    writer = wal.WalWriter.open(tmp_path / "wal")
    writer.append(b"a" * 100)
    writer.sync()
    start = wal.record_bytes(tmp_path / "wal" / "000000000001.log")
    writer.append(b"b" * 50)
    writer.append(b"c" * 70)
    calls.clear()
    writer.write_out(wait=False)
    writer.write_out(wait=True)
    writer.sync(data_flushed=True)
    length = 2 * wal.HEADER_BYTES + 120
    assert [(offset, size) for _fd, offset, size, _flags in calls.ranges] == [(start, length), (start, length)]
    assert [flags for *_rest, flags in calls.ranges] == [
        linux.SYNC_FILE_RANGE_WRITE,
        linux.SYNC_FILE_RANGE_WRITE_AND_WAIT,
    ]
    assert calls.fdatasync == [] and not writer.dirty
    writer.close()


@on_ext4
def test_data_flushed_is_ignored_for_a_log_that_did_more_than_overwrite(tmp_path, calls):
    writer = wal.WalWriter.open(tmp_path / "wal")
    writer.append(b"new")
    calls.clear()
    writer.sync(data_flushed=True)  # its zeros were never made durable: it needs its fdatasync
    assert len(calls.fdatasync) == 1
    writer.close()


# -- the batch's side ------------------------------------------------------------------------------------------


@on_ext4
def test_overwriting_logs_take_one_cache_flush_and_no_fdatasync_or_syncfs(tmp_path, calls):
    spaces = _spaces(tmp_path, "alpha", "beta", "gamma")
    batch = BatchSync(tmp_path)
    for name, space in spaces.items():
        _write(space, name)
    calls.clear()
    assert batch.sync(spaces) == {}
    assert calls.syncfs == [] and calls.fdatasync == [batch._flush_fd]
    assert len(calls.ranges) == 6  # started for all three, then waited for
    assert not any(space.dirty for space in spaces.values())
    for space in spaces.values():
        space.close()
    reopened = Space.open(tmp_path, "beta", DIM, NOW)[0]
    assert {memory.id for memory in reopened.list(0, 10, False).memories} == {"beta-first", "beta"}


@on_ext4
def test_a_batch_mixing_overwrites_and_an_extension_flushes_once_and_fdatasyncs_the_other(tmp_path, calls):
    spaces = _spaces(tmp_path, "alpha", "beta")
    batch = BatchSync(tmp_path)
    _write(spaces["alpha"], "small")
    spaces["beta"].remember([MemoryIn("b" * 40_000, id="big", embedding=np.ones(DIM, "<f4").tobytes())], NOW)
    calls.clear()
    assert batch.sync(spaces) == {}
    assert calls.syncfs == [] and len(calls.fdatasync) == 2 and calls.fdatasync[0] == batch._flush_fd
    assert not any(space.dirty for space in spaces.values())


@on_ext4
@pytest.mark.skipif(linux.syncfs_function() is None, reason="syncfs needs Linux 5.8 or later")
def test_a_syncfs_for_two_extended_logs_covers_the_overwrites_of_the_batch_too(tmp_path, calls):
    spaces = _spaces(tmp_path, "alpha", "beta", "gamma")
    batch = BatchSync(tmp_path)
    _write(spaces["alpha"], "small")
    for name in ("beta", "gamma"):
        spaces[name].remember([MemoryIn("b" * 40_000, id="big", embedding=np.ones(DIM, "<f4").tobytes())], NOW)
    calls.clear()
    assert batch.sync(spaces) == {}
    assert len(calls.syncfs) == 1 and calls.fdatasync == [] and calls.ranges == []
    assert not any(space.dirty for space in spaces.values())


@on_ext4
def test_a_failed_cache_flush_falls_back_to_each_log_on_its_own(tmp_path, calls, monkeypatch):
    spaces = _spaces(tmp_path, "alpha", "beta")
    batch = BatchSync(tmp_path)
    real = durability.os.fdatasync

    def failing_flush(fd: int) -> None:
        if fd == batch._flush_fd:
            raise OSError(errno.EIO, "flush failed")
        real(fd)

    monkeypatch.setattr(durability.os, "fdatasync", failing_flush)
    for name, space in spaces.items():
        _write(space, name)
    calls.clear()
    assert batch.sync(spaces) == {}
    assert len(calls.fdatasync) == 2 and batch._flush_fd not in calls.fdatasync
    assert not any(space.dirty for space in spaces.values())


@on_ext4
def test_an_injected_fsync_failure_fails_its_overwriting_space_only(tmp_path, calls, monkeypatch):
    spaces = _spaces(tmp_path / "data", "alpha", "beta")
    faults_path = tmp_path / "faults.json"
    faults_path.write_text(json.dumps({"beta": "eio_fsync"}))
    monkeypatch.setattr(faults, "_path", str(faults_path))
    monkeypatch.setattr(faults, "_read_at", float("-inf"))
    for name, space in spaces.items():
        _write(space, name)
    failed = BatchSync(tmp_path / "data").sync(spaces)
    assert list(failed) == ["beta"] and failed["beta"].errno == errno.EIO
    assert not spaces["alpha"].dirty
    with pytest.raises(OSError):
        spaces["beta"].sync()


@on_ext4
def test_without_a_usable_flush_file_overwrites_are_synced_like_any_write(tmp_path, calls):
    (tmp_path / durability.FLUSH_FILE).mkdir()  # cannot be opened as the flush file
    spaces = _spaces(tmp_path, "alpha")
    batch = BatchSync(tmp_path)
    _write(spaces["alpha"], "again")
    calls.clear()
    assert batch._flush_fd == -1 and batch.sync(spaces) == {}
    assert calls.ranges == [] and len(calls.fdatasync) == 1 and not spaces["alpha"].dirty


def test_with_sync_overwrites_off_logs_are_synced_as_before(tmp_path, calls):
    spaces = _spaces(tmp_path, "alpha")
    batch = BatchSync(tmp_path, sync_overwrites=False)
    _write(spaces["alpha"], "again")
    calls.clear()
    assert batch.sync(spaces) == {}
    assert calls.ranges == [] and len(calls.fdatasync) == 1 and calls.fdatasync[0] != batch._flush_fd
    assert not (tmp_path / durability.FLUSH_FILE).exists()


@on_ext4
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["alpha", "beta"]), st.integers(1, 20_000), st.sampled_from(["", "sync", "prepare"])),
        min_size=1,
        max_size=25,
    )
)
def test_a_data_only_sync_never_reaches_past_what_an_fdatasync_made_durable(tmp_path_factory, monkeypatch, steps):
    """Whatever the writes and syncs, a log synced without its fdatasync wrote only bytes below the file size some
    earlier fdatasync of that log covered (told from the system calls and fstat, not from the writer's fields), and
    every space reopens with exactly what was written. Logs are also extended ahead between batches, as the worker
    does when idle (``prepare``)."""
    root = tmp_path_factory.mktemp("logs")
    covered: dict[int, int] = {}  # fd -> the file's size when its last fdatasync was made
    real_fdatasync, real_range = os.fdatasync, wal._sync_file_range

    def fdatasync(fd: int) -> None:
        covered[fd] = os.fstat(fd).st_size
        real_fdatasync(fd)

    def sync_range(fd: int, offset: int, length: int, flags: int) -> int:
        assert offset + length <= covered.get(fd, -1)
        return real_range(fd, offset, length, flags)  # type: ignore[misc]

    def syncfs_covering(syncfs):
        def call(fd: int) -> int:
            for entry in Path("/proc/self/fd").iterdir():  # a syncfs covers every log of the filesystem
                with contextlib.suppress(OSError):
                    if os.readlink(entry).endswith(".log"):
                        covered[int(entry.name)] = os.fstat(int(entry.name)).st_size
            return syncfs(fd)

        return call

    monkeypatch.setattr(wal.os, "fdatasync", fdatasync)
    monkeypatch.setattr(wal, "_sync_file_range", sync_range)
    real_syncfs = linux.syncfs_function()
    if real_syncfs is not None:
        monkeypatch.setattr(linux, "syncfs_function", lambda: syncfs_covering(real_syncfs))
    spaces = {name: Space.open(root, name, DIM, NOW)[0] for name in ("alpha", "beta")}
    batch = BatchSync(root)
    written: dict[str, set[str]] = {name: set() for name in spaces}
    for number, (name, size, then) in enumerate(steps):
        memory_id = f"m{number}"
        embedding = np.ones(DIM, "<f4").tobytes()
        spaces[name].remember([MemoryIn("x" * size, id=memory_id, embedding=embedding)], NOW)
        written[name].add(memory_id)
        if then:
            assert batch.sync(spaces) == {}
        if then == "prepare":
            for space in spaces.values():
                space.prepare_log()
    assert batch.sync(spaces) == {}
    for name, space in spaces.items():
        space.close()
        reopened = Space.open(root, name, DIM, NOW)[0]
        assert {memory.id for memory in reopened.list(0, 100, False).memories} == written[name]
        reopened.close()
    batch.close()
