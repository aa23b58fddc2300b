"""The write-ahead log of one memory space: append-only segments of checksummed records.

A record is a 16-byte header ``<IIII``: magic, payload length, crc32 of the payload, crc32 of the first 12
header bytes, then the payload. The header checksum tells a torn or garbage header from a real one before its
length is trusted. Segments are ``wal/000000000001.log``, ``000000000002.log``, ...; a new one starts once the
current one exceeds ``SEGMENT_MAX_BYTES``, so later compaction can drop whole files.

Durability (DESIGN §5): ``append`` only writes; ``sync`` makes everything appended so far durable. The worker
appends a whole batch of requests and syncs once (group commit), and acknowledges nothing before ``sync``
returned. After a failed fsync the kernel may have dropped the dirty pages, so the writer refuses all further
work: the worker must reopen the space, which replays what the disk really holds.

Log space is written ahead of the records: the writer extends its segment with zeros, ``PREWRITE_MIN_BYTES`` at
first and twice as much each time after, up to ``PREWRITE_BYTES``, and writes records over them. Overwriting
blocks that are already on disk needs no block allocation and no change of the file's size, so the ``fdatasync``
after it is one data write and a cache flush, where an append also writes the inode and the allocation metadata:
on the reference machine 96 µs of wall time and 43 µs of CPU against 159 µs and 76 µs for a 3.5 KB record
(bench/wal_prewrite.py). The zeros are not records: a record
header never starts with a zero magic, so a scan that meets a zero header with nothing but zeros after it has
reached the end of the log. Closing, rolling and replaying cut the unused zeros off again, so an idle space keeps
none on disk; zeros followed by anything else are damage like any other.

An extension costs the record that needs it a full sync with allocation: 150-370 µs more than an overwrite's sync
for 64-128 KiB (1,000 logs on the reference disk), and spaces written alike reach their extensions together. So
the worker also extends ahead when it has nothing else to do (``prepare``): a log that was just synced and whose
durable zeros would hold fewer than ``PREPARE_RECORDS`` more records is extended by half to all of
``PREWRITE_BYTES`` (``idle_extension_bytes``, fixed per space) and fdatasynced then, and the records that follow
overwrite. Under a load that never leaves the worker idle, extensions stay on the request path.

A log whose records since its last sync all overwrote zeros that an earlier ``fdatasync`` made durable (their blocks
allocated and the file's size on disk) needs nothing but those bytes on the disk: ``write_out`` writes them
(``sync_file_range``) and the caller flushes the disk's cache once for every such log of a batch
(workers/durability.py). An ``fdatasync`` would also write the inode, whose modification time every write changes
once the kernel's coarse clock moved on: on ext4 without a journal that is one more block write, waited for, per
sync of a log last written more than a few milliseconds before, i.e. of nearly every log when many spaces are
written (docs/durability.md, "Syncing overwrites").

Recovery keeps the longest valid prefix of the log. Everything from the first torn or corrupt record on
(including later segments) is copied to ``wal/dropped-<unix_ms>.bin`` for forensics and cut off, so new
appends follow the last good record and a later replay cannot stop early at the same damage. A segment missing
between two present ones is damage too: what follows a hole may undo or depend on what the hole held.

Snapshots (workers/snapshot.py) cut the log at a segment boundary: ``roll`` closes the current segment, the
snapshot records "covers segments <= N", and once two kept snapshots cover a segment ``remove_through`` deletes it.
Replay then starts after a snapshot's cut (``replay(after=N)``). Without a usable snapshot, segments missing before
the first present one are reported, not treated as damage: there is no older state the rest could contradict.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import time
import zlib
from io import BufferedWriter
from pathlib import Path

import msgspec

from engram.atomic import fsync_dir, pwrite_all
from workers import faults, linux

MAGIC = 0x4C574E45  # b"ENWL" little-endian
HEADER = struct.Struct("<IIII")
HEADER_BYTES = HEADER.size
SEGMENT_MAX_BYTES = 64 * 1024 * 1024
PREWRITE_BYTES = 256 * 1024
"""How far ahead of its records a busy writer zeroes its segment: about 70 remembers of a 768-dim embedding. The
first sync after an extension writes the zeros and pays for the allocation; the ones after it do not. Every loaded
space that writes holds up to this much of zeros on disk. 0 turns writing ahead off (records are appended:
bench/wal_prewrite.py)."""
PREWRITE_MIN_BYTES = 32 * 1024
"""The first extension of a newly opened writer. Doubling from here keeps a space that writes a few records from
writing 256 KiB of zeros for them: 1,000 such spaces would write 256 MB."""
PREPARE_RECORDS = 4
"""A log is extended ahead in the worker's idle time (``WalWriter.prepare``) once its durable zeros would hold fewer
than this many more records of the size it last appended (at most half of ``PREWRITE_BYTES``)."""
PAGE_BYTES = 4096

_SEGMENT_NAME = re.compile(r"\d{12}\.log")
_sync_file_range = linux.sync_file_range_function()


class RecoveryReport(msgspec.Struct):
    """What ``replay`` found: the records it kept and, if the log was damaged, what it dropped and why."""

    records: int
    dropped_bytes: int = 0
    dropped_reason: str | None = None  # "torn record", "corrupt record: ..." or "missing segment ..."
    segment: str | None = None  # the segment file holding the first bad record
    missing: str | None = None  # leading segments that are gone, e.g. "000000000001.log to 000000000004.log"


def frame(payload: bytes) -> bytes:
    """The bytes of one record: header, then payload."""
    head = struct.pack("<III", MAGIC, len(payload), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def _segment_name(sequence: int) -> str:
    return f"{sequence:012d}.log"


def segments(wal_dir: Path) -> list[Path]:
    """The segment files of a log, oldest first (other files, such as dropped tails, are not segments)."""
    if not wal_dir.is_dir():
        return []
    return sorted(p for p in wal_dir.iterdir() if _SEGMENT_NAME.fullmatch(p.name))


def sequence_of(segment: Path) -> int:
    return int(segment.stem)


def bytes_after(wal_dir: Path, cut: int) -> int:
    """Bytes of the records in the segments after ``cut``: what a replay from a snapshot at ``cut`` reads."""
    return sum(record_bytes(p) for p in segments(wal_dir) if sequence_of(p) > cut)


def record_bytes(segment: Path) -> int:
    """The bytes of a segment's records, without the zeros written ahead of them (module docstring)."""
    fd = os.open(segment, os.O_RDONLY)
    try:
        return _records_end(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)


def remove_through(wal_dir: Path, cut: int) -> list[str]:
    """Delete the segments ``<= cut`` (covered by snapshots: workers/snapshot.py); return their names. The writer
    appends to a later segment, so this never touches the file it writes."""
    removed = [p for p in segments(wal_dir) if sequence_of(p) <= cut]
    for path in removed:
        path.unlink()
    if removed:
        fsync_dir(wal_dir)
    return [p.name for p in removed]


class WalWriter:
    """Appends records to the newest segment of one log. Not thread-safe: one worker loop owns it."""

    def __init__(self, wal_dir: Path, sequence: int, fd: int, size: int, dir_dirty: bool, file_size: int) -> None:
        self._dir = wal_dir
        self._sequence = sequence
        self._fd = fd
        self._size = size  # where the next record goes: the end of the records, before any zeros written ahead
        self._prewritten = file_size  # the end of the file: records plus the zeros written ahead of them
        self._ahead = PREWRITE_MIN_BYTES  # the next extension's zeros past the record that needs it
        self._idle_extension = idle_extension_bytes(wal_dir)  # what ``prepare`` extends by
        self._last_record = 0  # the framed size of the last record appended (``needs_room``)
        self._synced = size  # the records before this offset are durable; those after it wait for ``sync``
        self._durable_end = 0  # the file's bytes whose blocks and size a completed fdatasync (or syncfs) made durable
        self._dir_dirty = dir_dirty  # a segment file was created since the last directory fsync
        self._failure: OSError | None = None
        self.appended_bytes = 0  # framed bytes this writer appended (the space counts its log growth with it)

    @classmethod
    def open(cls, wal_dir: Path, first_sequence: int = 1) -> WalWriter:
        """Open the log in ``wal_dir`` for appending (creating the directory and the first segment if needed).

        Appends go to the newest segment, or to a new ``first_sequence`` segment when no segment at or after it
        exists: a snapshot covering segments ``< first_sequence`` would make a replay skip records appended there.
        Run ``replay`` first: appending after a damaged tail would put new records where replay never reaches.
        (Zeros written ahead are found here too: appends overwrite them.)
        """
        if not wal_dir.is_dir():
            wal_dir.mkdir(parents=True)
            fsync_dir(wal_dir.parent)
        existing = segments(wal_dir)
        sequence = sequence_of(existing[-1]) if existing else first_sequence
        created = sequence < first_sequence or not existing
        sequence = max(sequence, first_sequence)
        path = wal_dir / _segment_name(sequence)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            file_size = os.fstat(fd).st_size
            size = _records_end(fd, file_size)
        except BaseException:
            os.close(fd)
            raise
        return cls(wal_dir, sequence, fd, size, dir_dirty=created, file_size=file_size)

    @property
    def sequence(self) -> int:
        """The segment appends go to."""
        return self._sequence

    @property
    def dirty(self) -> bool:
        """True when something was appended (or a segment created) that is not durable yet."""
        return self._size > self._synced or self._dir_dirty

    @property
    def overwrites_only(self) -> bool:
        """True when something is waiting for ``sync`` and all of it overwrote zeros whose blocks and file size are
        durable already, with no segment created since: then ``write_out`` and a flush of the disk's cache make it
        as durable as an ``fdatasync`` would (module docstring). Never true right after ``open``: zeros found there
        may be pages a crashed process wrote and no sync covered."""
        return (
            self._size > self._synced
            and not self._dir_dirty
            and self._size <= self._durable_end
            and _sync_file_range is not None
            and self._failure is None
        )

    def write_out(self, *, wait: bool) -> None:
        """Write the records appended since the last sync to the disk, without the file's metadata and without
        flushing the disk's cache: start the writes (``wait`` False), or write what is left and wait for all of it
        (``wait`` True, which reports a writeback error like ``fdatasync``). Only for a log that ``overwrites_only``;
        the caller flushes the disk's cache and then calls ``sync(data_flushed=True)``. Raises OSError like
        ``sync``, leaving the writer unusable."""
        self._check_usable()
        flags = linux.SYNC_FILE_RANGE_WRITE_AND_WAIT if wait else linux.SYNC_FILE_RANGE_WRITE
        if _sync_file_range(self._fd, self._synced, self._size - self._synced, flags) != 0:  # type: ignore[misc]
            self._failure = linux.errno_error("sync_file_range", self._dir)
            raise self._failure

    def append(self, payload: bytes) -> None:
        """Write one record (no fsync). On a failed write the partial record is cut off again, so the log
        never holds garbage before records appended later."""
        self._check_usable()
        if self._size > SEGMENT_MAX_BYTES:
            self.roll()
        record = frame(payload)
        try:
            faults.inject(self._dir.parent.name, faults.WRITE)  # test-only, off unless ENGRAM_FAULTS_FILE is set
            self._write_ahead(len(record))
            pwrite_all(self._fd, record, self._size)
        except OSError:
            self._trim()  # the partial record goes, and the zeros with it
            raise
        self._size += len(record)
        # A record appended as it is (no room for zeros ahead) ends past them: the next extension must start
        # after it, or its zeros would overwrite it (a full disk lost acknowledged records that way).
        self._prewritten = max(self._prewritten, self._size)
        self._last_record = len(record)
        self.appended_bytes += len(record)

    def _write_ahead(self, length: int) -> None:
        """Make sure zeros lie ahead of the next ``length`` bytes (module docstring). When the disk has no room for
        a whole extension, the record is appended as it is, which needs room for itself only."""
        if self._size + length <= self._prewritten or not PREWRITE_BYTES:
            return
        self._extend(_whole_pages(self._size + length + min(self._ahead, PREWRITE_BYTES)))

    def _extend(self, end: int) -> bool:
        """Write zeros from the end of the file to ``end`` (not synced), and double the next extension. False when
        the disk had no room: the zeros are cut off again (OSError if even that failed: the writer is unusable)."""
        try:
            if end > self._prewritten:
                pwrite_all(self._fd, bytes(end - self._prewritten), self._prewritten)
        except OSError:
            self._trim()
            self._check_usable()
            return False
        self._prewritten = max(self._prewritten, end)
        self._ahead *= 2
        return True

    @property
    def needs_room(self) -> bool:
        """True when the log has appended, has nothing waiting for ``sync``, and its durable zeros would hold fewer
        than ``PREPARE_RECORDS`` more records of its last record's size: ``prepare`` would extend it now."""
        low_water = min(PREPARE_RECORDS * self._last_record, PREWRITE_BYTES // 2)
        return (
            PREWRITE_BYTES > 0
            and self._fd >= 0
            and self._failure is None
            and not self.dirty
            and self._size <= SEGMENT_MAX_BYTES  # past it, the next append rolls to a new segment
            and self._durable_end - self._size < low_water
        )

    def prepare(self) -> bool:
        """Extend the zeros ahead of the records by ``idle_extension_bytes`` and fdatasync them now, if
        ``needs_room`` (module docstring): the worker calls this when no request is waiting, so that the next
        records overwrite instead of paying for the extension. Half to all of ``PREWRITE_BYTES`` at once, not the
        doubling of extensions on the request path: a log that ran low once between syncs keeps writing, and each
        extension holds the worker (bench/fairness.py's 1,000 spaces, each about 50 records of 3.3 KB: a 32 KiB
        extension at the first write and one of 128-256 KiB at the first idle moment after, where doubling took
        three; docs/durability.md). Makes nothing durable that a request waits for (there is nothing waiting).
        True when it extended; False when it was not needed or the disk had no room (the zeros are then cut off
        again, as when an append finds no room). Raises OSError when the fdatasync failed: the writer is then
        unusable, as after a failed ``sync``, and the space must be reopened."""
        if not self.needs_room:
            return False
        if not self._extend(_whole_pages(self._size + self._idle_extension)):
            return False
        try:
            os.fdatasync(self._fd)
        except OSError as exc:
            self._failure = exc
            raise
        self._durable_end = self._prewritten
        return True

    def _trim(self) -> None:
        """Cut the file back to the end of its records (the zeros ahead of them, or a partial record, go). Not
        synced: zeros found after the records again after a crash are cut off by the next replay."""
        try:
            os.ftruncate(self._fd, self._size)
            self._prewritten = self._size
            self._durable_end = min(self._durable_end, self._size)  # zeros written here again need an fdatasync
        except OSError as exc:
            self._failure = exc

    @property
    def device(self) -> int:
        """The filesystem the log is on (``st_dev``; -1 once closed): a ``syncfs`` of it covers this log
        (workers/durability.py)."""
        return os.fstat(self._fd).st_dev if self._fd >= 0 else -1

    def sync(self, *, filesystem_synced: bool = False, data_flushed: bool = False) -> None:
        """Make every appended record durable. Raises OSError if it could not; then nothing since the previous
        successful sync may be acknowledged, and the writer is unusable from then on.

        ``filesystem_synced``: the caller has just synced the log's whole filesystem (``syncfs``) after the last
        append, which made the records and the directory durable; only the bookkeeping is left.
        ``data_flushed``: the caller wrote the records out (``write_out(wait=True)``) and then flushed the disk's
        cache, which is enough for a log that ``overwrites_only`` (for any other log it is ignored)."""
        self._check_usable()
        try:
            if self._size > self._synced:
                faults.inject(self._dir.parent.name, faults.FSYNC)  # test-only, as in append
                covered = max(self._size, self._prewritten)  # a full sync covers the zeros written ahead too
                if filesystem_synced:
                    self._durable_end = covered
                elif not (data_flushed and self.overwrites_only):
                    os.fdatasync(self._fd)
                    self._durable_end = covered
                self._synced = self._size
            if self._dir_dirty:
                if not filesystem_synced:
                    fsync_dir(self._dir)
                self._dir_dirty = False
        except OSError as exc:
            self._failure = exc
            raise

    def close(self) -> None:
        """Sync, then close. The file is closed even when the sync fails (the error is raised after)."""
        if self._fd < 0:
            return
        try:
            if self._failure is None:
                self.sync()
                if self._prewritten > self._size:
                    self._trim()
        finally:
            os.close(self._fd)
            self._fd = -1

    def roll(self) -> int:
        """Make everything appended so far durable and move later appends to a new segment; return the last
        segment holding records appended before (the cut a snapshot taken now covers). An empty current segment
        is kept: nothing was appended to it, so the cut is the one before it. Raises OSError like ``sync``."""
        self._check_usable()
        if self._size == 0:
            self.sync()
            return self._sequence - 1
        if self._size > self._synced:
            self.sync()  # ``sync`` only covers the newest file
        new_fd = os.open(self._dir / _segment_name(self._sequence + 1), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        if self._prewritten > self._size:
            self._trim()
        os.close(self._fd)
        self._fd = new_fd
        self._sequence += 1
        self._size = 0
        self._synced = 0
        self._prewritten = 0
        self._durable_end = 0
        self._dir_dirty = True
        return self._sequence - 1

    def _check_usable(self) -> None:
        if self._fd < 0:
            raise OSError(f"write-ahead log {self._dir} is closed")
        if self._failure is not None:
            raise OSError(f"write-ahead log {self._dir} failed earlier ({self._failure}); reopen the space")


def idle_extension_bytes(wal_dir: Path) -> int:
    """How far ``prepare`` extends this log: between half of ``PREWRITE_BYTES`` and all of it, in whole pages,
    fixed per space (from a hash of its directory). Spaces created together and written at one rate would
    otherwise all run out of zeros in the same few seconds, again and again: the evidence suite's 1,000 spaces,
    written round robin, each reached its next 256 KiB extension after the same 77 records, so 256 MB of zeros and
    1,000 fdatasyncs fell into one 6 s round. Spread over a factor of two, such spaces' next extensions are spread
    over half the interval between them."""
    pages = PREWRITE_BYTES // PAGE_BYTES
    spread = zlib.crc32(str(wal_dir).encode()) % (pages // 2 + 1)
    return (pages - spread) * PAGE_BYTES


def _whole_pages(length: int) -> int:
    return -(-length // PAGE_BYTES) * PAGE_BYTES


def replay(wal_dir: Path, after: int = 0, *, from_snapshot: bool = False) -> tuple[list[bytes], RecoveryReport]:
    """The payloads of the valid prefix of the segments after ``after``, oldest first, and a report of what was
    dropped. Segments ``<= after`` are neither read nor changed.

    ``from_snapshot``: the caller holds the state as of ``after`` (a snapshot's cut), so the log must go on with
    segment ``after + 1``; a missing one is a hole like any other. Without a snapshot nothing precedes the log, so
    missing leading segments (deleted behind snapshots that were then lost) are only reported in ``missing``, and
    the replay starts at the first segment there is: its records need nothing from before to apply.

    Damaged data never raises: the log is repaired (see the module docstring). Only real I/O errors raise.
    """
    payloads: list[bytes] = []
    tail = [p for p in segments(wal_dir) if sequence_of(p) > after]
    expected = after + 1
    missing = None
    if tail and not from_snapshot and sequence_of(tail[0]) > expected:
        first, last = expected, sequence_of(tail[0]) - 1
        missing = _segment_range(first, last)
        expected = sequence_of(tail[0])
    for index, path in enumerate(tail):
        if sequence_of(path) != expected:
            reason = f"missing segment {_segment_name(expected)}"
            dropped = sum(p.stat().st_size for p in tail[index:])
            _cut_off(wal_dir, None, memoryview(b""), tail[index:], 0)
            return payloads, RecoveryReport(len(payloads), dropped, reason, path.name, missing)
        expected += 1
        data = path.read_bytes()
        good_end, reason = _scan(data, payloads)
        if reason is None and good_end < len(data):
            _cut_zeros(path, good_end)
        if reason is not None:
            later = tail[index + 1 :]
            dropped = len(data) - good_end + sum(p.stat().st_size for p in later)
            _cut_off(wal_dir, path, memoryview(data)[good_end:], later, good_end)
            return payloads, RecoveryReport(len(payloads), dropped, reason, path.name, missing)
    return payloads, RecoveryReport(len(payloads), missing=missing)


def _segment_range(first: int, last: int) -> str:
    return _segment_name(first) if first == last else f"{_segment_name(first)} to {_segment_name(last)}"


def _scan(data: bytes, payloads: list[bytes] | None) -> tuple[int, str | None]:
    """Append the payloads of ``data``'s valid records to ``payloads`` (if given); return where the records end
    and, if the data holds something else after them than zeros written ahead, why they end there."""
    view = memoryview(data)
    offset = 0
    while offset < len(data):
        if data[offset] == 0 and _all_zeros(data, offset):
            return offset, None  # zeros written ahead of the records (module docstring)
        if len(data) - offset < HEADER_BYTES:
            return offset, "torn record"
        magic, length, payload_crc, header_crc = HEADER.unpack_from(data, offset)
        if magic != MAGIC:
            return offset, f"corrupt record: bad magic at offset {offset}"
        if header_crc != zlib.crc32(view[offset : offset + 12]):
            return offset, f"corrupt record: header checksum mismatch at offset {offset}"
        start = offset + HEADER_BYTES
        if len(data) - start < length:
            return offset, "torn record"
        payload = bytes(view[start : start + length])
        if zlib.crc32(payload) != payload_crc:
            return offset, f"corrupt record: payload checksum mismatch at offset {offset}"
        if payloads is not None:
            payloads.append(payload)
        offset = start + length
    return offset, None


def _all_zeros(data: bytes, offset: int) -> bool:
    return data.count(0, offset) == len(data) - offset


def _records_end(fd: int, size: int) -> int:
    """Where the records of an open segment of ``size`` bytes end: its size, unless it ends in zeros written ahead.
    A damaged tail ends the records too (``replay`` cuts it off before a writer opens; this only finds where)."""
    if size == 0 or os.pread(fd, 1, size - 1) != b"\0":
        return size
    data = os.pread(fd, size, 0)
    return _scan(data, None)[0]


def _cut_zeros(path: Path, end: int) -> None:
    """Cut the zeros written ahead of a segment's records off (not synced: if they come back after a crash, they
    are cut off again)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, end)
    finally:
        os.close(fd)


def _cut_off(wal_dir: Path, bad: Path | None, tail: memoryview, later: list[Path], good_end: int) -> None:
    """Keep the dropped bytes for forensics (durably, before destroying anything), then truncate ``bad`` (if
    any) at ``good_end`` and remove the later segments."""
    with _new_dropped_file(wal_dir) as out:
        out.write(tail)
        for path in later:
            with path.open("rb") as src:
                shutil.copyfileobj(src, out)
        out.flush()
        os.fsync(out.fileno())
    if bad is not None:
        fd = os.open(bad, os.O_WRONLY)
        try:
            os.ftruncate(fd, good_end)
            os.fsync(fd)
        finally:
            os.close(fd)
    for path in later:
        path.unlink()
    fsync_dir(wal_dir)


def _new_dropped_file(wal_dir: Path) -> BufferedWriter:
    """``dropped-<unix_ms>.bin``, never overwriting the file of an earlier recovery in the same ms."""
    stamp = time.time_ns() // 1_000_000
    while True:
        try:
            return (wal_dir / f"dropped-{stamp}.bin").open("xb")
        except FileExistsError:
            stamp += 1
