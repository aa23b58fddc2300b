"""The write-ahead log keeps exactly the valid prefix of what was appended, and is safe to append to after
recovery."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workers import wal
from workers.wal import HEADER_BYTES, WalWriter, frame, replay, segments


def write_log(wal_dir: Path, payloads: list[bytes]) -> None:
    writer = WalWriter.open(wal_dir)
    for payload in payloads:
        writer.append(payload)
    writer.close()


def only_segment(wal_dir: Path) -> Path:
    (segment,) = segments(wal_dir)
    return segment


def test_appended_records_replay_in_order(tmp_path: Path) -> None:
    payloads = [b"first", b"", b"x" * 10_000, bytes(range(256))]
    write_log(tmp_path / "wal", payloads)

    replayed, report = replay(tmp_path / "wal")

    assert replayed == payloads
    assert report == wal.RecoveryReport(records=4)


def test_replay_of_a_missing_log_is_empty(tmp_path: Path) -> None:
    assert replay(tmp_path / "wal") == ([], wal.RecoveryReport(records=0))


def test_sync_clears_dirty_and_reports_nothing_to_do_after(tmp_path: Path) -> None:
    writer = WalWriter.open(tmp_path / "wal")
    assert writer.dirty  # the new segment's directory entry is not durable yet
    writer.sync()
    assert not writer.dirty
    writer.append(b"record")
    assert writer.dirty
    writer.sync()
    assert not writer.dirty
    writer.close()


def test_torn_final_record_is_dropped_reported_and_kept_for_forensics(tmp_path: Path) -> None:
    wal_dir = tmp_path / "wal"
    write_log(wal_dir, [b"one", b"two", b"three"])
    segment = only_segment(wal_dir)
    full = segment.read_bytes()
    segment.write_bytes(full[:-2])  # the crash cut the last record short

    replayed, report = replay(wal_dir)

    assert replayed == [b"one", b"two"]
    torn_size = len(frame(b"three")) - 2
    assert report == wal.RecoveryReport(2, torn_size, "torn record", segment.name)
    assert segment.stat().st_size == len(full) - len(frame(b"three"))
    (dropped,) = wal_dir.glob("dropped-*.bin")
    assert dropped.read_bytes() == full[-len(frame(b"three")) : -2]


def test_appending_after_recovery_continues_after_the_good_prefix(tmp_path: Path) -> None:
    wal_dir = tmp_path / "wal"
    write_log(wal_dir, [b"one", b"two", b"three"])
    segment = only_segment(wal_dir)
    segment.write_bytes(segment.read_bytes()[:-1])
    replay(wal_dir)

    write_log(wal_dir, [b"four"])
    replayed, report = replay(wal_dir)

    assert replayed == [b"one", b"two", b"four"]
    assert report.dropped_reason is None


def test_a_flipped_byte_stops_replay_at_the_damaged_record(tmp_path: Path) -> None:
    wal_dir = tmp_path / "wal"
    write_log(wal_dir, [b"alpha", b"bravo", b"charlie", b"delta"])
    segment = only_segment(wal_dir)
    data = bytearray(segment.read_bytes())
    second_payload = len(frame(b"alpha")) + HEADER_BYTES
    data[second_payload + 1] ^= 0x40
    segment.write_bytes(bytes(data))

    replayed, report = replay(wal_dir)

    assert replayed == [b"alpha"]
    assert report.records == 1
    assert report.dropped_reason == f"corrupt record: payload checksum mismatch at offset {len(frame(b'alpha'))}"
    assert report.dropped_bytes == len(data) - len(frame(b"alpha"))


def test_a_damaged_header_is_reported_as_corrupt(tmp_path: Path) -> None:
    wal_dir = tmp_path / "wal"
    write_log(wal_dir, [b"alpha", b"bravo"])
    segment = only_segment(wal_dir)
    data = bytearray(segment.read_bytes())
    data[len(frame(b"alpha")) + 4] ^= 0x01  # the length field of the second record
    segment.write_bytes(bytes(data))

    replayed, report = replay(wal_dir)

    assert replayed == [b"alpha"]
    assert report.dropped_reason is not None and "header checksum mismatch" in report.dropped_reason


def test_segments_roll_over_and_replay_across_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wal, "SEGMENT_MAX_BYTES", 100)
    wal_dir = tmp_path / "wal"
    payloads = [bytes([i]) * 40 for i in range(10)]

    write_log(wal_dir, payloads)

    names = [p.name for p in segments(wal_dir)]
    assert names[:2] == ["000000000001.log", "000000000002.log"]
    assert len(names) == 5  # 56-byte records: the third finds the segment over 100 bytes and rolls
    assert replay(wal_dir) == (payloads, wal.RecoveryReport(records=10))


def test_damage_in_one_segment_drops_all_later_segments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wal, "SEGMENT_MAX_BYTES", 100)
    wal_dir = tmp_path / "wal"
    payloads = [bytes([i]) * 40 for i in range(10)]
    write_log(wal_dir, payloads)
    second = segments(wal_dir)[1]
    second.write_bytes(second.read_bytes()[:-3])
    total_after_cut = sum(p.stat().st_size for p in segments(wal_dir)[1:]) - len(frame(payloads[2]))

    replayed, report = replay(wal_dir)

    assert replayed == payloads[:3]
    assert report == wal.RecoveryReport(3, total_after_cut, "torn record", second.name)
    assert [p.name for p in segments(wal_dir)] == ["000000000001.log", "000000000002.log"]
    (dropped,) = wal_dir.glob("dropped-*.bin")
    assert dropped.stat().st_size == total_after_cut
    write_log(wal_dir, [b"next"])
    assert replay(wal_dir)[0] == [*payloads[:3], b"next"]


def test_a_failed_fsync_makes_the_writer_refuse_all_further_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = WalWriter.open(tmp_path / "wal")
    writer.append(b"unacknowledged")

    def failing_fdatasync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(wal.os, "fdatasync", failing_fdatasync)
    with pytest.raises(OSError, match="Input/output"):
        writer.sync()
    monkeypatch.undo()

    with pytest.raises(OSError, match="reopen the space"):
        writer.append(b"later")
    with pytest.raises(OSError, match="reopen the space"):
        writer.sync()
    writer.close()


def test_a_failed_write_leaves_no_partial_record_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wal_dir = tmp_path / "wal"
    writer = WalWriter.open(wal_dir)
    writer.append(b"kept")

    def write_half_then_fail(fd: int, data: bytes, offset: int) -> None:
        wal.os.pwrite(fd, data[: len(data) // 2], offset)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(wal, "pwrite_all", write_half_then_fail)
    with pytest.raises(OSError, match="No space"):
        writer.append(b"lost" * 10)
    monkeypatch.undo()
    writer.append(b"after")
    writer.close()

    assert replay(wal_dir) == ([b"kept", b"after"], wal.RecoveryReport(records=2))


@given(
    payloads=st.lists(st.binary(max_size=64), max_size=12),
    cut_fraction=st.floats(min_value=0.0, max_value=1.0),
    zeros=st.integers(min_value=0, max_value=300),
)
def test_any_cut_replays_exactly_the_complete_records_before_it_and_stays_appendable(
    payloads: list[bytes], cut_fraction: float, zeros: int
) -> None:
    """A crash may leave any prefix of the records, followed by zeros written ahead or by nothing. Zeros right after
    a complete record are the end of the log; a partial record is damage, and so are the zeros after it."""
    with tempfile.TemporaryDirectory() as tmp:
        wal_dir = Path(tmp) / "wal"
        write_log(wal_dir, payloads)
        segment = only_segment(wal_dir)
        data = segment.read_bytes()
        cut = round(cut_fraction * len(data))
        left = data[:cut] + bytes(zeros)
        segment.write_bytes(left)

        replayed, report = replay(wal_dir)

        # A record is complete when its bytes are all there, which the zeros can finish: a record cut just before
        # its last payload bytes, when those bytes were zeros, is whole again.
        ends = [sum(len(frame(p)) for p in payloads[: i + 1]) for i in range(len(payloads))]
        complete = sum(1 for _ in itertools.takewhile(lambda end: left[:end] == data[:end], ends))
        kept = ends[complete - 1] if complete else 0
        assert replayed == payloads[:complete]
        if not any(left[kept:]):  # nothing but the zeros written ahead after the last complete record
            assert (report.dropped_reason, report.dropped_bytes) == (None, 0)
        else:
            assert report.dropped_bytes == len(left) - kept
            assert report.dropped_reason == "torn record" or zeros > 0
        assert segment.stat().st_size == kept

        write_log(wal_dir, [b"appended"])
        assert replay(wal_dir)[0] == [*payloads[:complete], b"appended"]


# -- zeros written ahead of the records ------------------------------------------------------------------------------


def test_records_overwrite_zeros_written_ahead_and_replay_stops_at_them(tmp_path: Path) -> None:
    wal_dir = tmp_path / "wal"
    writer = WalWriter.open(wal_dir)
    writer.append(b"one")
    writer.append(b"two")
    writer.sync()
    segment = only_segment(wal_dir)
    records = len(frame(b"one")) + len(frame(b"two"))
    size = segment.stat().st_size  # the first append wrote zeros ahead of itself, to a page boundary
    assert size == wal.PREWRITE_MIN_BYTES + wal.PAGE_BYTES
    assert segment.read_bytes()[records:] == bytes(size - records)
    assert wal.record_bytes(segment) == wal.bytes_after(wal_dir, 0) == records

    # A crash now (the writer never closes): replay keeps both records, reports no damage, cuts the zeros off.
    assert replay(wal_dir) == ([b"one", b"two"], wal.RecoveryReport(records=2))
    assert segment.stat().st_size == records
    assert not list(wal_dir.glob("dropped-*"))
    writer.close()


def test_a_writer_reopened_on_zeros_written_ahead_appends_after_the_records(tmp_path: Path) -> None:
    wal_dir = tmp_path / "wal"
    crashed = WalWriter.open(wal_dir)
    crashed.append(b"kept")
    crashed.sync()
    os_fd = crashed._fd  # a crash: the zeros stay on disk
    reopened = WalWriter.open(wal_dir)
    reopened.append(b"after")
    reopened.close()
    wal.os.close(os_fd)

    assert replay(wal_dir) == ([b"kept", b"after"], wal.RecoveryReport(records=2))


def test_each_extension_writes_twice_as_far_ahead_up_to_the_most(tmp_path: Path) -> None:
    writer = WalWriter.open(tmp_path / "wal")
    payload = bytes(range(256)) * 14  # about a 768-dim remember
    sizes = []
    for _ in range(400):
        writer.append(payload)
        size = only_segment(tmp_path / "wal").stat().st_size
        if not sizes or size != sizes[-1]:
            sizes.append(size)
    extensions = [later - earlier for earlier, later in zip([0, *sizes], sizes, strict=False)]
    aheads = [wal.PREWRITE_MIN_BYTES * 2**n for n in range(4)] + [wal.PREWRITE_BYTES] * (len(sizes) - 4)
    assert aheads[3] == wal.PREWRITE_BYTES and len(sizes) > 5
    for extension, ahead in zip(extensions, aheads, strict=True):  # past the record that needed it, whole pages
        assert ahead <= extension < ahead + len(frame(payload)) + wal.PAGE_BYTES
    assert all(size % wal.PAGE_BYTES == 0 for size in sizes)
    writer.close()
    assert replay(tmp_path / "wal") == ([payload] * 400, wal.RecoveryReport(records=400))


def test_close_and_roll_leave_no_zeros_on_disk(tmp_path: Path) -> None:
    wal_dir = tmp_path / "wal"
    writer = WalWriter.open(wal_dir)
    writer.append(b"first segment")
    assert writer.roll() == 1
    writer.append(b"second segment")
    writer.close()

    first, second = segments(wal_dir)
    assert first.stat().st_size == len(frame(b"first segment"))
    assert second.stat().st_size == len(frame(b"second segment"))
    assert replay(wal_dir) == ([b"first segment", b"second segment"], wal.RecoveryReport(records=2))


def test_zeros_followed_by_anything_else_are_damage(tmp_path: Path) -> None:
    wal_dir = tmp_path / "wal"
    write_log(wal_dir, [b"kept"])
    segment = only_segment(wal_dir)
    good = segment.stat().st_size
    with segment.open("ab") as out:
        out.write(bytes(100) + b"garbage")

    replayed, report = replay(wal_dir)

    assert replayed == [b"kept"]
    assert report.dropped_bytes == 107 and report.dropped_reason.startswith("corrupt record: bad magic")
    assert segment.stat().st_size == good


def test_a_disk_too_full_for_zeros_ahead_still_takes_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wal_dir = tmp_path / "wal"
    writer = WalWriter.open(wal_dir)
    real_pwrite_all = wal.pwrite_all

    def no_room_for_zeros(fd: int, data: bytes, offset: int) -> None:
        if len(data) >= wal.PREWRITE_MIN_BYTES:  # the zeros ahead: the disk has room for a record only
            real_pwrite_all(fd, data[:1000], offset)
            raise OSError(28, "No space left on device")
        real_pwrite_all(fd, data, offset)

    monkeypatch.setattr(wal, "pwrite_all", no_room_for_zeros)
    writer.append(b"fits")
    writer.sync()
    assert only_segment(wal_dir).stat().st_size == len(frame(b"fits"))  # the partial zeros were cut off
    writer.close()

    assert replay(wal_dir) == ([b"fits"], wal.RecoveryReport(records=1))


# -- cuts for snapshots: roll, replay after a cut, segments removed behind snapshots --------------------------------


def test_roll_moves_later_appends_to_a_new_segment_and_returns_the_cut(tmp_path: Path) -> None:
    wal_dir = tmp_path / "wal"
    writer = WalWriter.open(wal_dir)
    writer.append(b"before")

    assert writer.roll() == 1
    assert writer.sequence == 2
    writer.append(b"after")
    writer.close()

    assert [p.name for p in segments(wal_dir)] == ["000000000001.log", "000000000002.log"]
    assert replay(wal_dir, after=1, from_snapshot=True) == ([b"after"], wal.RecoveryReport(records=1))
    assert replay(wal_dir)[0] == [b"before", b"after"]


def test_rolling_an_empty_segment_keeps_it_and_cuts_before_it(tmp_path: Path) -> None:
    wal_dir = tmp_path / "wal"
    writer = WalWriter.open(wal_dir)
    writer.append(b"one")
    assert writer.roll() == 1

    assert writer.roll() == 1  # nothing appended since: no new, empty segment
    writer.close()
    assert len(segments(wal_dir)) == 2


def test_appended_bytes_count_framed_records(tmp_path: Path) -> None:
    writer = WalWriter.open(tmp_path / "wal")
    writer.append(b"abc")
    writer.append(b"")

    assert writer.appended_bytes == len(frame(b"abc")) + len(frame(b""))
    writer.close()


def test_a_writer_never_appends_to_a_segment_a_snapshot_covers(tmp_path: Path) -> None:
    wal_dir = tmp_path / "wal"
    write_log(wal_dir, [b"covered"])  # segment 1, covered by a snapshot at cut 3 (segments 2, 3 deleted)

    writer = WalWriter.open(wal_dir, first_sequence=4)
    writer.append(b"new")
    writer.close()

    assert [p.name for p in segments(wal_dir)] == ["000000000001.log", "000000000004.log"]
    assert replay(wal_dir, after=3, from_snapshot=True)[0] == [b"new"]


def test_remove_through_deletes_only_segments_up_to_the_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wal, "SEGMENT_MAX_BYTES", 100)
    wal_dir = tmp_path / "wal"
    write_log(wal_dir, [bytes([i]) * 40 for i in range(10)])  # five segments
    (wal_dir / "dropped-1.bin").write_bytes(b"forensics")

    removed = wal.remove_through(wal_dir, 3)

    assert removed == ["000000000001.log", "000000000002.log", "000000000003.log"]
    assert [p.name for p in segments(wal_dir)] == ["000000000004.log", "000000000005.log"]
    assert (wal_dir / "dropped-1.bin").exists()
    assert wal.bytes_after(wal_dir, 3) == sum(p.stat().st_size for p in segments(wal_dir))


def test_without_a_snapshot_missing_leading_segments_are_reported_and_the_rest_replayed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wal, "SEGMENT_MAX_BYTES", 100)
    wal_dir = tmp_path / "wal"
    payloads = [bytes([i]) * 40 for i in range(10)]  # two records per segment
    write_log(wal_dir, payloads)
    wal.remove_through(wal_dir, 2)

    replayed, report = replay(wal_dir)

    assert replayed == payloads[4:]
    assert report == wal.RecoveryReport(records=6, missing="000000000001.log to 000000000002.log")
    assert len(segments(wal_dir)) == 3  # nothing cut off


def test_after_a_snapshot_a_missing_next_segment_is_a_hole_and_nothing_after_it_is_replayed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wal, "SEGMENT_MAX_BYTES", 100)
    wal_dir = tmp_path / "wal"
    write_log(wal_dir, [bytes([i]) * 40 for i in range(10)])
    (wal_dir / "000000000003.log").unlink()
    after_hole = sum(p.stat().st_size for p in segments(wal_dir)[2:])

    replayed, report = replay(wal_dir, after=2, from_snapshot=True)

    assert replayed == []
    assert report == wal.RecoveryReport(0, after_hole, "missing segment 000000000003.log", "000000000004.log")
    assert [p.name for p in segments(wal_dir)] == ["000000000001.log", "000000000002.log"]
    (dropped,) = wal_dir.glob("dropped-*.bin")
    assert dropped.stat().st_size == after_hole


def test_a_missing_segment_between_two_stops_replay_at_the_hole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wal, "SEGMENT_MAX_BYTES", 100)
    wal_dir = tmp_path / "wal"
    payloads = [bytes([i]) * 40 for i in range(10)]
    write_log(wal_dir, payloads)
    (wal_dir / "000000000002.log").unlink()

    replayed, report = replay(wal_dir)

    assert replayed == payloads[:2]
    assert report.dropped_reason == "missing segment 000000000002.log"
    assert [p.name for p in segments(wal_dir)] == ["000000000001.log"]
    write_log(wal_dir, [b"next"])  # appends go on after the good prefix, never after the hole
    assert replay(wal_dir)[0] == [*payloads[:2], b"next"]


def test_records_appended_without_room_for_zeros_ahead_survive_the_next_extension(tmp_path, monkeypatch):
    """On a full disk the zeros ahead cannot be written, and a record that still fits the file's last block is
    appended as it is. The next extension, once there is room again, must start after that record: it started
    where the zeros had ended, and its zeros overwrote acknowledged records (found by a real full filesystem:
    bench/chaos.py's disk_full)."""
    real_pwrite_all = wal.pwrite_all
    disk_full = True

    def pwrite_all(fd: int, data: bytes, offset: int) -> None:
        if disk_full and not any(data):  # the zeros written ahead: no room for them
            raise OSError(28, "No space left on device")
        real_pwrite_all(fd, data, offset)

    monkeypatch.setattr(wal, "pwrite_all", pwrite_all)
    writer = WalWriter.open(tmp_path / "wal")
    writer.append(b"first")
    writer.append(b"second")
    writer.sync()
    disk_full = False
    writer.append(b"third")  # extends: its zeros go after all three
    writer.sync()
    writer.close()
    payloads, report = replay(tmp_path / "wal")
    assert payloads == [b"first", b"second", b"third"]
    assert report.dropped_bytes == 0
