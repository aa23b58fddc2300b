"""Logs extended ahead in the worker's idle time (``WalWriter.prepare``, ``WorkerLoop._prepare_logs``): a log about to
run out of durable zeros is extended and fdatasynced while no request waits, so the records after it overwrite.
Real logs on disk; the worker loop runs in process without sockets."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engram import protocol as p
from engram.config import Config
from tests.unit.worker_frames import request_frames
from workers import wal
from workers.loop import WorkerLoop
from workers.wal import WalWriter, frame, replay, segments

RECORD = bytes(range(256)) * 14  # about a 768-dim remember


def _file_size(wal_dir: Path) -> int:
    return segments(wal_dir)[-1].stat().st_size


def _synced_until_room_runs_low(writer: WalWriter) -> int:
    """Append and sync records until the log would extend ahead; returns how many."""
    appended = 0
    while not writer.needs_room:
        writer.append(RECORD)
        writer.sync()
        appended += 1
        assert appended < 100, "a log appending records of one size must run low on zeros"
    return appended


def test_a_log_low_on_durable_zeros_is_extended_once_and_its_next_records_only_overwrite(tmp_path: Path) -> None:
    wal_dir = tmp_path / "wal"
    writer = WalWriter.open(wal_dir)
    assert not writer.needs_room and not writer.prepare()  # nothing appended yet: nothing to prepare for
    appended = _synced_until_room_runs_low(writer)
    records_end = appended * len(frame(RECORD))
    before = _file_size(wal_dir)
    assert before - records_end < wal.PREPARE_RECORDS * len(frame(RECORD))

    assert writer.prepare()
    extended = _file_size(wal_dir)
    assert extended % wal.PAGE_BYTES == 0
    # nearly the whole extension at once (its size fixed per space), not doubling's next step
    assert extended - records_end >= wal.idle_extension_bytes(wal_dir) >= wal.PREWRITE_BYTES // 2
    assert not writer.needs_room and not writer.prepare()  # once is enough

    room = (extended - records_end) // len(frame(RECORD))
    assert room >= wal.PREPARE_RECORDS
    for _ in range(room):
        writer.append(RECORD)
        assert writer.overwrites_only  # no extension, and the zeros it overwrote are durable
        writer.sync()
    assert _file_size(wal_dir) == extended
    writer.close()
    assert replay(wal_dir)[0] == [RECORD] * (appended + room)


def test_a_log_with_records_waiting_for_their_sync_is_not_prepared(tmp_path: Path) -> None:
    writer = WalWriter.open(tmp_path / "wal")
    _synced_until_room_runs_low(writer)
    writer.append(RECORD)  # not synced: a prepare's fdatasync would make durable what no request was told about
    assert not writer.needs_room and not writer.prepare()
    writer.sync()
    writer.close()
    assert not writer.needs_room and not writer.prepare()  # closed


def test_without_room_on_the_disk_the_zeros_go_and_the_log_keeps_working(tmp_path: Path, monkeypatch) -> None:
    wal_dir = tmp_path / "wal"
    writer = WalWriter.open(wal_dir)
    appended = _synced_until_room_runs_low(writer)
    real_pwrite_all = wal.pwrite_all

    def disk_full(fd: int, data: bytes, offset: int) -> None:
        if not any(data):  # zeros written ahead; records still fit
            raise OSError(errno.ENOSPC, "No space left on device")
        real_pwrite_all(fd, data, offset)

    monkeypatch.setattr(wal, "pwrite_all", disk_full)
    assert not writer.prepare()
    assert _file_size(wal_dir) == appended * len(frame(RECORD))  # cut back to the records
    writer.append(b"still written")
    writer.sync()
    writer.close()
    assert replay(wal_dir)[0] == [RECORD] * appended + [b"still written"]


def test_a_failed_fdatasync_of_the_extension_leaves_the_log_unusable(tmp_path: Path, monkeypatch) -> None:
    writer = WalWriter.open(tmp_path / "wal")
    _synced_until_room_runs_low(writer)

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(wal.os, "fdatasync", failing)
    with pytest.raises(OSError):
        writer.prepare()
    monkeypatch.undo()
    with pytest.raises(OSError, match="failed earlier"):
        writer.append(b"refused")
    writer.close()


# -- the worker loop -----------------------------------------------------------------------------------------------


@pytest.fixture
def loop(tmp_path) -> WorkerLoop:
    return WorkerLoop(0, "tcp://127.0.0.1:1", Config(data_root=str(tmp_path)))


def _remember(loop: WorkerLoop, space: str, memory_id: str) -> None:
    request = p.Remember([p.MemoryIn("x" * 3000, id=memory_id, embedding=b"\x00\x00\x80?" + b"\x00" * 12)])
    ((_ticket, reply),) = loop._handle_batch([request_frames(space, request)])
    assert p.REPLY_DECODER.decode(reply).error is None


def _written_until_room_runs_low(loop: WorkerLoop, space: str) -> list[str]:
    ids = [f"m{n}" for n in range(100)]
    for number, memory_id in enumerate(ids):
        _remember(loop, space, memory_id)
        if loop._spaces[space].log_needs_room:
            return ids[: number + 1]
    raise AssertionError("a log appending records of one size must run low on zeros")


def test_the_loop_extends_logs_ahead_only_while_no_request_waits(loop, tmp_path) -> None:
    _written_until_room_runs_low(loop, "alpha")
    wal_dir = tmp_path / "alpha" / "wal"
    before = _file_size(wal_dir)

    loop._requests_waiting = lambda: True
    loop._prepare_logs()
    assert _file_size(wal_dir) == before and loop._spaces["alpha"].log_needs_room  # left for the next idle moment

    loop._requests_waiting = lambda: False
    loop._prepare_logs()
    assert _file_size(wal_dir) > before and not loop._spaces["alpha"].log_needs_room
    assert not loop._to_prepare


def test_a_space_whose_extension_failed_is_reloaded_with_every_acknowledged_write(loop, monkeypatch) -> None:
    ids = _written_until_room_runs_low(loop, "alpha")
    monkeypatch.setattr(wal.os, "fdatasync", lambda fd: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
    loop._requests_waiting = lambda: False
    loop._prepare_logs()
    monkeypatch.undo()
    assert "alpha" not in loop._spaces  # dropped; its next request reopens it from the disk
    _remember(loop, "alpha", "after")
    listed = p.REPLY_DECODER.decode(loop._handle_batch([request_frames("alpha", p.ListMemories(limit=1000))])[0][1])
    assert {memory.id for memory in p.decode_result("list_memories", listed).memories} == {*ids, "after"}


def test_the_files_of_a_prepared_log_hold_only_records_and_zeros(loop, tmp_path) -> None:
    """What the extension wrote is what a crash would leave: replay stops at the zeros, losing nothing."""
    ids = _written_until_room_runs_low(loop, "alpha")
    loop._requests_waiting = lambda: False
    loop._prepare_logs()
    payloads, report = replay(tmp_path / "alpha" / "wal")
    assert report.dropped_bytes == 0 and len(payloads) >= len(ids)
    assert os.path.getsize(segments(tmp_path / "alpha" / "wal")[-1]) == sum(len(frame(x)) for x in payloads)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=40))
def test_an_idle_extension_is_half_to_all_of_the_most_in_whole_pages(name: str) -> None:
    size = wal.idle_extension_bytes(Path("/data") / name / "wal")
    assert wal.PREWRITE_BYTES // 2 <= size <= wal.PREWRITE_BYTES and size % wal.PAGE_BYTES == 0
    assert size == wal.idle_extension_bytes(Path("/data") / name / "wal")  # fixed for the space


def test_spaces_created_together_get_idle_extensions_of_many_sizes() -> None:
    sizes = [wal.idle_extension_bytes(Path("/data") / f"agent-{number:04d}" / "wal") for number in range(1000)]
    assert len(set(sizes)) > wal.PREWRITE_BYTES // wal.PAGE_BYTES // 4  # spread, so their extensions do not align
    assert min(sizes) < 0.6 * wal.PREWRITE_BYTES and max(sizes) > 0.9 * wal.PREWRITE_BYTES
