"""Snapshots of one space: its live state at a cut of its write-ahead log, saved so a restart loads, not replays.

Why: replaying a log re-parses every record the space ever took (about 4 s per 100k memories, docs/storage.md),
and the log only grows. A snapshot holds the state as of "every record in log segments <= N" (the cut); opening
loads the newest snapshot and replays only the segments after its cut, and segments covered by the two kept
snapshots are deleted, so restart time depends on the log's tail, not on the space's history.

Files, in ``hot/snapshot-<generation>/`` (generation: 12 digits, increasing per space):

- ``<array>.npy`` for each column array (``workers.columns.SAVED_ARRAYS``), live rows only, in row order: loaded
  with ``np.load(mmap_mode="r")`` and copied into growable columns, a binary copy instead of decoding records;
- ``lexicon-counts.npy``, ``lexicon-rows.npy``: the postings of the content index (rebuilding it by tokenizing
  every memory takes twice as long as loading it);
- ``state.msgpack`` (``SnapshotState``): ids, content, profiles, access counts, association edges, the lexicon's
  tokens, the next serial and the stored bytes;
- ``manifest.json`` (``SnapshotManifest``), written last: format, space, dimension, the cut, the row count and the
  size and CRC-32 of every other file.

Crash safety: everything is written into ``hot/.snapshot-<generation>.tmp/``, each file fsynced, the directory
fsynced, then renamed into place and ``hot/`` fsynced; a reader sees a whole snapshot or none. A snapshot whose
manifest, sizes or checksums do not verify, or whose content does not decode into a consistent state, is rejected
(``SnapshotRejected``): the caller falls back to the previous generation (workers/recovery.py), which is why two are
kept and the log is only deleted behind both. A rejected one is renamed ``rejected-snapshot-<generation>-<ms>``
for forensics, so it never counts as one of the two kept generations again.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shutil
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import msgspec
import numpy as np

from engram.atomic import FlushingWriter, fsync_dir
from workers.columns import SAVED_ARRAYS, Columns
from workers.lexicon import Lexicon
from workers.records import Profile
from workers.traits import Traits

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = 1
KEEP_GENERATIONS = 2
MANIFEST_FILE = "manifest.json"
STATE_FILE = "state.msgpack"
LEXICON_COUNTS_FILE = "lexicon-counts.npy"
LEXICON_ROWS_FILE = "lexicon-rows.npy"
WRITE_CHUNK_ROWS = 16_384
"""Rows gathered and written at a time: a snapshot of a space with deleted rows never copies a whole array."""
READ_CHUNK_BYTES = 1 << 20

_DIR = re.compile(r"snapshot-(\d{12})")
_SET_ASIDE = re.compile(r"rejected-snapshot-(\d{12})-\d+")
_LEFTOVER = re.compile(r"\.(snapshot-\d{12}\.tmp|trash-.*)")


class SnapshotRejected(Exception):
    """A snapshot that cannot be trusted; the message says why (logged and put in the recovery report)."""


class FileSum(msgspec.Struct):
    bytes: int
    crc32: int


class SnapshotManifest(msgspec.Struct):
    """``manifest.json``: what a snapshot holds and how to verify it. ``wal_cut``: it covers log segments <= this."""

    format: int
    generation: int
    space: str
    dim: int
    wal_cut: int
    rows: int
    written_at: float
    files: dict[str, FileSum]


class SnapshotState(msgspec.Struct, array_like=True):
    """``state.msgpack``: everything but the arrays, one list entry per live row in row order. Edges refer to rows."""

    ids: list[str]
    content: list[str]
    profiles: list[Profile]
    access_counts: list[int]
    edge_a: list[int]
    edge_b: list[int]
    edge_kinds: list[str]
    edge_weights: list[float]
    lexicon_tokens: list[str]
    next_serial: int
    stored_bytes: int


_STATE_ENCODER = msgspec.msgpack.Encoder()
_STATE_DECODER = msgspec.msgpack.Decoder(SnapshotState)


@dataclass
class Capture:
    """A space's state at its cut, ready to write: the column arrays stay in the columns until written."""

    columns: Columns
    live_rows: np.ndarray | slice
    state: SnapshotState
    lexicon_counts: np.ndarray
    lexicon_rows: np.ndarray


class Restored(NamedTuple):
    """A loaded snapshot, built into the objects a space holds."""

    columns: Columns
    lexicon: Lexicon
    traits: Traits
    stored_bytes: int


class SnapshotReport(msgspec.Struct):
    """What ``Space.snapshot`` did. ``generation`` None: skipped, nothing was logged since the last snapshot."""

    generation: int | None
    wal_cut: int
    rows: int
    bytes: int
    wal_segments_removed: list[str]
    elapsed_s: float


class SnapshotWritten(NamedTuple):
    generation: int
    path: Path
    bytes: int


# -- capture and write -----------------------------------------------------------------------------------------


def capture(columns: Columns, traits: Traits, lexicon: Lexicon, stored_bytes: int) -> Capture:
    """The live state of a space (call it right after ``WalWriter.roll``, before anything else changes it)."""
    n = columns.rows
    live = columns.live[:n]
    keep: np.ndarray | slice = slice(0, n) if columns.tombstones == 0 else np.flatnonzero(live)
    new_row = np.cumsum(live, dtype=np.int64) - 1  # the row each live row gets in the snapshot
    ids = columns.ids[:n] if isinstance(keep, slice) else [columns.ids[row] for row in keep.tolist()]
    content = columns.content[:n] if isinstance(keep, slice) else [columns.content[row] for row in keep.tolist()]
    row_of_id = {memory_id: row for row, memory_id in enumerate(ids)}
    edges = traits.graph.edges()
    tokens, counts, rows = lexicon.export(new_row)
    state = SnapshotState(
        ids=ids,
        content=content,
        profiles=[traits.profile(memory_id) for memory_id in ids],
        access_counts=traits.access_counts(ids),
        edge_a=[row_of_id[a] for a, _, _, _ in edges],
        edge_b=[row_of_id[b] for _, b, _, _ in edges],
        edge_kinds=[kind for _, _, kind, _ in edges],
        edge_weights=[weight for _, _, _, weight in edges],
        lexicon_tokens=tokens,
        next_serial=columns.next_serial,
        stored_bytes=stored_bytes,
    )
    return Capture(columns, keep, state, counts, rows)


def write(hot_dir: Path, generation: int, space_id: str, wal_cut: int, snap: Capture) -> SnapshotWritten:
    """Write ``snap`` as ``hot/snapshot-<generation>/``, durably and all at once (see the module docstring)."""
    final = hot_dir / dir_name(generation)
    tmp = hot_dir / f".{dir_name(generation)}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        files: dict[str, FileSum] = {}
        columns = snap.columns
        for name in SAVED_ARRAYS:
            files[f"{name}.npy"] = _write_npy(tmp / f"{name}.npy", getattr(columns, name), snap.live_rows)
        for file_name, array in ((LEXICON_COUNTS_FILE, snap.lexicon_counts), (LEXICON_ROWS_FILE, snap.lexicon_rows)):
            files[file_name] = _write_npy(tmp / file_name, array, slice(0, len(array)))
        files[STATE_FILE] = _write_file(tmp / STATE_FILE, _STATE_ENCODER.encode(snap.state))
        rows = len(snap.state.ids)
        manifest = SnapshotManifest(
            SNAPSHOT_FORMAT, generation, space_id, columns.dim, wal_cut, rows, time.time(), files
        )
        _write_file(tmp / MANIFEST_FILE, msgspec.json.encode(manifest))
        fsync_dir(tmp)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(hot_dir)
    return SnapshotWritten(generation, final, sum(f.bytes for f in files.values()))


def _write_npy(path: Path, source: np.ndarray, rows: np.ndarray | slice) -> FileSum:
    """``np.save`` of ``source[rows]``, gathered a chunk at a time, fsynced; returns its size and CRC-32."""
    count = rows.stop - rows.start if isinstance(rows, slice) else len(rows)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header,
        {
            "descr": np.lib.format.dtype_to_descr(source.dtype),
            "fortran_order": False,
            "shape": (count, *source.shape[1:]),
        },
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        out = FlushingWriter(fd)  # a live log's fsync must not wait for the whole file (engram/atomic.py)
        data = header.getvalue()
        out.write(data)
        crc, size = zlib.crc32(data), len(data)
        for start in range(0, count, WRITE_CHUNK_ROWS):
            stop = min(start + WRITE_CHUNK_ROWS, count)
            if isinstance(rows, slice):
                chunk = source[rows.start + start : rows.start + stop]
            else:
                chunk = source[rows[start:stop]]
            block = memoryview(np.ascontiguousarray(chunk)).cast("B")
            out.write(block)
            crc, size = zlib.crc32(block, crc), size + len(block)
        os.fsync(fd)
    finally:
        os.close(fd)
    return FileSum(size, crc)


def _write_file(path: Path, data: bytes) -> FileSum:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        FlushingWriter(fd).write(data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return FileSum(len(data), zlib.crc32(data))


# -- read ------------------------------------------------------------------------------------------------------


def read_manifest(hot_dir: Path, generation: int) -> SnapshotManifest:
    """A snapshot's manifest, checked against its directory name; raises ``SnapshotRejected``."""
    path = hot_dir / dir_name(generation) / MANIFEST_FILE
    try:
        manifest = msgspec.json.decode(path.read_bytes(), type=SnapshotManifest)
    except FileNotFoundError:
        raise SnapshotRejected(f"{MANIFEST_FILE} is missing") from None
    except (OSError, msgspec.DecodeError) as exc:
        raise SnapshotRejected(f"{MANIFEST_FILE} cannot be read: {exc}") from exc
    if manifest.format != SNAPSHOT_FORMAT:
        raise SnapshotRejected(f"format {manifest.format}, this server reads {SNAPSHOT_FORMAT}")
    if manifest.generation != generation:
        raise SnapshotRejected(f"{MANIFEST_FILE} names generation {manifest.generation}")
    return manifest


def load(hot_dir: Path, generation: int, space_id: str, dim: int) -> tuple[SnapshotManifest, Restored]:
    """Verify and load one snapshot into the objects a space holds. Raises ``SnapshotRejected`` saying why it
    cannot be trusted (a real I/O error too: the caller falls back either way)."""
    manifest = read_manifest(hot_dir, generation)
    if manifest.space != space_id or manifest.dim != dim:
        raise SnapshotRejected(f"it is of space {manifest.space!r} (dim {manifest.dim}), not {space_id!r} (dim {dim})")
    directory = hot_dir / dir_name(generation)
    expected = {f"{name}.npy" for name in SAVED_ARRAYS} | {STATE_FILE, LEXICON_COUNTS_FILE, LEXICON_ROWS_FILE}
    if absent := expected - manifest.files.keys():
        raise SnapshotRejected(f"{MANIFEST_FILE} lists no {', '.join(sorted(absent))}")
    for name, expected_sum in manifest.files.items():
        _verify(directory / name, expected_sum)
    try:
        state = _STATE_DECODER.decode((directory / STATE_FILE).read_bytes())
        rows = manifest.rows
        arrays = {name: _load_npy(directory / f"{name}.npy") for name in SAVED_ARRAYS}
        _check_shapes(arrays, rows, dim, state)
        columns = Columns.from_live_rows(dim, arrays, state.ids, state.content, state.next_serial)
        lexicon = Lexicon.restore(
            state.lexicon_tokens, _load_npy(directory / LEXICON_COUNTS_FILE), _load_npy(directory / LEXICON_ROWS_FILE)
        )
        traits = Traits.restore(state.ids, columns.observed_at[:rows], state.profiles, state.access_counts)
        ids = state.ids
        for a, b, kind, weight in zip(state.edge_a, state.edge_b, state.edge_kinds, state.edge_weights, strict=True):
            traits.graph.link(ids[a], ids[b], weight, kind)
    except SnapshotRejected:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever it is, the older snapshot or the log can do without it
        raise SnapshotRejected(f"its content does not load: {exc!r}") from exc
    return manifest, Restored(columns, lexicon, traits, state.stored_bytes)


def _verify(path: Path, expected: FileSum) -> None:
    try:
        size = path.stat().st_size
        if size != expected.bytes:
            raise SnapshotRejected(f"{path.name} holds {size} bytes, {MANIFEST_FILE} says {expected.bytes}")
        crc = 0
        with path.open("rb") as source:
            while block := source.read(READ_CHUNK_BYTES):
                crc = zlib.crc32(block, crc)
    except FileNotFoundError:
        raise SnapshotRejected(f"{path.name} is missing") from None
    except OSError as exc:
        raise SnapshotRejected(f"{path.name} cannot be read: {exc}") from exc
    if crc != expected.crc32:
        raise SnapshotRejected(f"{path.name} fails its checksum")


def _load_npy(path: Path) -> np.ndarray:
    """Memory-mapped (the caller copies what it keeps); an empty array cannot be mapped, so it is read."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError:
        return np.load(path, allow_pickle=False)


def _check_shapes(arrays: dict[str, np.ndarray], rows: int, dim: int, state: SnapshotState) -> None:
    lengths = {len(state.ids), len(state.content), len(state.profiles), len(state.access_counts)}
    if lengths != {rows}:
        raise SnapshotRejected(f"{STATE_FILE} holds lists of {sorted(lengths)} entries for {rows} rows")
    if len(set(state.ids)) != rows:
        raise SnapshotRejected(f"{STATE_FILE} holds a memory id twice")
    for name, array in arrays.items():
        shape = (rows, dim) if name == "units" else (rows,)
        if array.shape != shape:
            raise SnapshotRejected(f"{name}.npy has shape {array.shape}, expected {shape}")
    serials = arrays["serials"]
    if rows and (np.any(np.diff(serials) <= 0) or int(serials[-1]) >= state.next_serial):
        raise SnapshotRejected("serials.npy is not increasing below the next serial")


# -- generations -------------------------------------------------------------------------------------------------


def dir_name(generation: int) -> str:
    return f"snapshot-{generation:012d}"


def generations(hot_dir: Path) -> list[int]:
    """The snapshot generations in ``hot_dir``, newest first."""
    if not hot_dir.is_dir():
        return []
    found = (_DIR.fullmatch(p.name) for p in hot_dir.iterdir())
    return sorted((int(m.group(1)) for m in found if m), reverse=True)


def next_generation(hot_dir: Path) -> int:
    """One above every generation ever used here, set-aside ones included, so a name is never reused."""
    used = [0, *generations(hot_dir)]
    used += [int(m.group(1)) for p in hot_dir.iterdir() if (m := _SET_ASIDE.fullmatch(p.name))]
    return max(used) + 1


def set_aside(hot_dir: Path, generation: int) -> str:
    """Rename a rejected snapshot so it is kept for forensics but never loaded or counted again; its new name."""
    name = f"rejected-{dir_name(generation)}-{time.time_ns() // 1_000_000}"
    os.rename(hot_dir / dir_name(generation), hot_dir / name)
    fsync_dir(hot_dir)
    return name


def prune(hot_dir: Path) -> int:
    """Keep the newest ``KEEP_GENERATIONS`` snapshots, delete older ones; return the log cut both kept ones cover
    (segments up to it may be deleted), or 0 while fewer are kept: the log is then the only fallback."""
    kept = generations(hot_dir)
    for generation in kept[KEEP_GENERATIONS:]:
        _remove_dir(hot_dir, dir_name(generation))
    cuts = []
    for generation in kept[:KEEP_GENERATIONS]:
        try:
            cuts.append(read_manifest(hot_dir, generation).wal_cut)
        except SnapshotRejected as exc:  # it was fine when loaded or written: leave the log alone to be safe
            log.error("snapshot %d in %s became unreadable (%s); keeping the whole log", generation, hot_dir, exc)
            return 0
    return min(cuts) if len(cuts) == KEEP_GENERATIONS else 0


def sweep(hot_dir: Path) -> list[str]:
    """Remove what interrupted snapshot writes and deletions left behind; return the names removed."""
    if not hot_dir.is_dir():
        return []
    leftovers = [p.name for p in hot_dir.iterdir() if _LEFTOVER.fullmatch(p.name)]
    for name in leftovers:
        shutil.rmtree(hot_dir / name, ignore_errors=True)
    return leftovers


def _remove_dir(hot_dir: Path, name: str) -> None:
    """Rename first, then delete: a crash mid-deletion leaves a ``.trash-`` directory ``sweep`` finishes, never
    a half-deleted snapshot under a name that would be loaded."""
    trash = hot_dir / f".trash-{name}"
    with contextlib.suppress(FileNotFoundError):
        os.rename(hot_dir / name, trash)
        fsync_dir(hot_dir)
    shutil.rmtree(trash, ignore_errors=True)
