"""The registry of memory spaces: ``registry.json`` (a compacted snapshot) plus ``registry.log`` (a journal).

The router is single-threaded, so every change goes through here one at a time: concurrent creates of one id
coalesce into one space by construction. The registry is the authority on each space's state ("active" or
"deleted", a tombstone kept until the id is created again) and policy (durability, quotas).

Why a journal: rewriting the whole registry on every change costs O(n) per change, O(n^2) to create n spaces,
which 10,000 spaces make slow. Instead each change appends one line, ``<CRC-32 of the JSON, 8 hex digits> <JSON of
the whole entry>\\n``, and fsyncs it before the router answers. A line is a complete upsert of one entry, so
replaying the journal over any older state gives the newest one. Once the journal holds as many records as there are
entries (and at least ``COMPACT_MIN_RECORDS``), the whole state is written as a new snapshot (write, fsync, rename,
fsync dir) and the journal is emptied: amortised O(1) bytes per change. A crash between the two replays records the
snapshot already holds, which changes nothing.

Load = snapshot, then the journal in order. A torn or corrupt last line (a crash in the middle of an append) is
dropped and cut off, so that new appends follow good data; a bad line with good ones after it is logged and skipped
(each line stands alone). Then a space directory that holds a ``space.json`` but is missing from the registry (the
registry was lost, or an older version wrote the data) is adopted, so every space recovered from disk is listed.
"""

from __future__ import annotations

import logging
import os
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import msgspec

from engram.atomic import fsync_dir, write_all, write_atomic
from engram.ids import is_valid_space_id
from engram.protocol import SPACE_ACTIVE, SPACE_DELETED, SpacePolicy

log = logging.getLogger(__name__)

REGISTRY_FILE = "registry.json"
JOURNAL_FILE = "registry.log"
SPACE_SETTINGS_FILE = "space.json"
REGISTRY_FORMAT = 2
COMPACT_MIN_RECORDS = 1024
"""The journal is compacted into the snapshot once it holds this many records, or as many as there are spaces."""


class SpaceEntry(msgspec.Struct, frozen=True):
    """One space as the registry holds it. Entries are replaced, never changed, so a failed write restores the
    previous one."""

    id: str
    dim: int
    created_at: float
    state: str = SPACE_ACTIVE
    policy: SpacePolicy = SpacePolicy()
    deleted_at: float | None = None

    @property
    def deleted(self) -> bool:
        return self.state == SPACE_DELETED


class RegistryDocument(msgspec.Struct):
    """``registry.json``. Format 1 (one file rewritten per change) has the same shape without policies."""

    format: int = REGISTRY_FORMAT
    spaces: list[SpaceEntry] = []


class _SpaceSettings(msgspec.Struct):
    """The fields of a space's own space.json that the registry needs to adopt it."""

    dim: int
    created_at: float = 0.0
    policy: SpacePolicy | None = None


_ENTRY_ENCODER = msgspec.json.Encoder()
_ENTRY_DECODER = msgspec.json.Decoder(SpaceEntry)
_CRC_DIGITS = 8


def journal_line(entry: SpaceEntry) -> bytes:
    payload = _ENTRY_ENCODER.encode(entry)
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def parse_journal_line(line: bytes) -> SpaceEntry | None:
    """The entry of one complete line (without its newline), or None when it is damaged."""
    if len(line) <= _CRC_DIGITS + 1 or line[_CRC_DIGITS : _CRC_DIGITS + 1] != b" ":
        return None
    payload = line[_CRC_DIGITS + 1 :]
    try:
        if int(line[:_CRC_DIGITS], 16) != zlib.crc32(payload):
            return None
        return _ENTRY_DECODER.decode(payload)
    except (ValueError, msgspec.DecodeError):
        return None


class Registry:
    def __init__(self, data_root: Path) -> None:
        self._root = Path(data_root)
        self._path = self._root / REGISTRY_FILE
        self._journal_path = self._root / JOURNAL_FILE
        self._spaces: dict[str, SpaceEntry] = {}
        self._active = 0
        self._journal_fd: int | None = None
        self._journal_records = 0
        self.listeners: list[Callable[[SpaceEntry | None, SpaceEntry], None]] = []
        """Called with (the entry before, the entry now) after each change was persisted, so that what is derived
        from the entries can follow a change instead of rescanning them all."""

    # -- loading ---------------------------------------------------------------------------------------------

    def load(self) -> list[str]:
        """Read snapshot and journal, adopt unregistered space directories; return the adopted ids."""
        if self._path.exists():
            document = msgspec.json.decode(self._path.read_bytes(), type=RegistryDocument)
            self._spaces = {entry.id: entry for entry in document.spaces}
        self._replay_journal()
        self._active = sum(1 for entry in self._spaces.values() if not entry.deleted)
        adopted = [entry.id for entry in self._scan_unregistered()]
        if adopted:
            log.warning("adopted %d space(s) found on disk but missing from the registry: %s", len(adopted), adopted)
        if adopted or self._journal_records >= self._compact_threshold():
            self._compact()
        return adopted

    def _replay_journal(self) -> None:
        try:
            data = self._journal_path.read_bytes()
        except FileNotFoundError:
            data = b""
        good_end = offset = 0
        records = 0
        while offset < len(data):
            newline = data.find(b"\n", offset)
            end = len(data) if newline < 0 else newline + 1
            entry = parse_journal_line(data[offset:newline]) if newline >= 0 else None
            if entry is None:
                log.warning("registry journal %s: dropping a damaged record at byte %d", self._journal_path, offset)
            else:
                self._spaces[entry.id] = entry
                records += 1
                good_end = end
            offset = end
        fd = os.open(self._journal_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        if good_end < len(data):  # cut the damaged tail off, so that the next append follows good data
            log.warning("registry journal %s: cutting %d byte(s) of damaged tail", self._journal_path,
                        len(data) - good_end)  # fmt: skip
            os.ftruncate(fd, good_end)
            os.fsync(fd)
        if not data:
            fsync_dir(self._root)  # the journal may have just been created
        self._journal_fd = fd
        self._journal_records = records

    def _scan_unregistered(self) -> list[SpaceEntry]:
        found = []
        # Names first, registered ones skipped before any stat: a start with 10,000 spaces must not stat them all.
        names = sorted(n for n in os.listdir(self._root) if n not in self._spaces and is_valid_space_id(n))
        for child in (self._root / name for name in names):
            if not child.is_dir():
                continue
            settings_path = child / SPACE_SETTINGS_FILE
            if not settings_path.exists():
                continue
            try:
                settings = msgspec.json.decode(settings_path.read_bytes(), type=_SpaceSettings)
            except (OSError, msgspec.DecodeError) as exc:
                log.error("cannot adopt space directory %s: unreadable %s (%s)", child, SPACE_SETTINGS_FILE, exc)
                continue
            created_at = settings.created_at or child.stat().st_mtime
            entry = SpaceEntry(child.name, settings.dim, created_at, policy=settings.policy or SpacePolicy())
            self._spaces[entry.id] = entry
            self._active += 1
            found.append(entry)
        return found

    # -- reading ---------------------------------------------------------------------------------------------

    def get(self, space: str) -> SpaceEntry | None:
        """The space's entry, active or deleted; None when it was never created."""
        return self._spaces.get(space)

    def entries(self, include_deleted: bool = False) -> list[SpaceEntry]:
        """Entries sorted by id: the active ones, and the tombstones too with ``include_deleted``."""
        chosen = self._spaces.values() if include_deleted else (e for e in self._spaces.values() if not e.deleted)
        return sorted(chosen, key=lambda entry: entry.id)

    def deleted_entries(self) -> list[SpaceEntry]:
        return sorted((e for e in self._spaces.values() if e.deleted), key=lambda entry: entry.id)

    @property
    def active_count(self) -> int:
        """Spaces that exist (tombstones excluded): what ``max_spaces`` limits."""
        return self._active

    def __len__(self) -> int:
        return self._active

    # -- changes ---------------------------------------------------------------------------------------------

    def create(
        self, space: str, dim: int, policy: SpacePolicy | None = None, now: float | None = None
    ) -> tuple[SpaceEntry, bool]:
        """Create-or-get: the entry, and whether this call created it. A deleted space is created again, as a new
        space (new ``created_at``, ``dim`` and ``policy``). Persisted before it returns."""
        existing = self._spaces.get(space)
        if existing is not None and not existing.deleted:
            return existing, False
        entry = SpaceEntry(space, dim, time.time() if now is None else now, policy=policy or SpacePolicy())
        self._commit(entry)
        return entry, True

    def update_policy(self, space: str, policy: SpacePolicy) -> SpaceEntry:
        """Replace an active space's policy (KeyError if there is no active space ``space``)."""
        entry = self._active_entry(space)
        if entry.policy == policy:
            return entry
        updated = msgspec.structs.replace(entry, policy=policy)
        self._commit(updated)
        return updated

    def delete(self, space: str, now: float | None = None) -> SpaceEntry:
        """Tombstone an active space (KeyError if there is none); persisted before it returns."""
        entry = self._active_entry(space)
        tombstone = msgspec.structs.replace(entry, state=SPACE_DELETED, deleted_at=time.time() if now is None else now)
        self._commit(tombstone)
        return tombstone

    def close(self) -> None:
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None

    def _active_entry(self, space: str) -> SpaceEntry:
        entry = self._spaces.get(space)
        if entry is None or entry.deleted:
            raise KeyError(space)
        return entry

    def _commit(self, entry: SpaceEntry) -> None:
        """Make ``entry`` the space's state: journaled and fsynced, or (OSError) not changed at all."""
        previous = self._spaces.get(entry.id)
        self._append(journal_line(entry))
        self._spaces[entry.id] = entry
        self._active += (not entry.deleted) - (previous is not None and not previous.deleted)
        for listener in self.listeners:
            listener(previous, entry)
        self._journal_records += 1
        if self._journal_records >= self._compact_threshold():
            try:
                self._compact()
            except OSError:  # the change is in the journal already; compaction is retried at the next change
                log.exception("compacting the registry into %s failed", self._path)

    def _append(self, line: bytes) -> None:
        if self._journal_fd is None:
            raise RuntimeError("Registry.load() must run before the registry is changed")
        fd = self._journal_fd
        size = os.fstat(fd).st_size
        try:
            write_all(fd, line)
            os.fsync(fd)
        except OSError:
            try:  # take back a partial line, so that the next record does not follow a torn one
                os.ftruncate(fd, size)
            except OSError:
                log.exception("cannot cut a failed append off the registry journal %s", self._journal_path)
            raise

    def _compact_threshold(self) -> int:
        return max(COMPACT_MIN_RECORDS, len(self._spaces))

    def _compact(self) -> None:
        """Write the whole state as the snapshot, then empty the journal (whose records the snapshot now holds)."""
        document = RegistryDocument(spaces=self.entries(include_deleted=True))
        write_atomic(self._path, msgspec.json.encode(document))
        if self._journal_fd is not None:
            os.ftruncate(self._journal_fd, 0)
            os.fsync(self._journal_fd)
        self._journal_records = 0
