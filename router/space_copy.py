"""Copy a space under a new id while the server is stopped (``engram space copy``): the safe way to duplicate or
split off a space that is too large for an export archive (2 GiB, engram/archive.py).

Copying a space's directory by hand is not safe: ``space.json`` and every snapshot manifest record the space's id,
and opening a space refuses a snapshot that names another space (it might be another tenant's data put in the wrong
place), so a hand-made copy under a new name serves only its log tail and loses every memory the snapshot covers.
This copy renames those files with the code an import uses (engram/space_naming.py), and also:

- holds the data root's lock (``engram.lock``, the one the router holds while it runs) for the whole copy, so it
  refuses to run beside a server and no server starts halfway through;
- reads the registry without changing it: the source must not be deleted, and the new id must be unknown to it (the
  router moves the directory of a deleted space's id to the trash at start, so a copy under a tombstoned id would be
  thrown away);
- writes the registry's policy of the source (the authority; ``space.json`` keeps the copy the worker last saw) into
  the copy's ``space.json``, so the new space starts with the same durability and quotas;
- copies into ``.copy-<new>-<pid>/``, fsyncs every file and directory, renames ids, then renames the staging
  directory into place: a failure or crash leaves no half-copied space (a leftover staging directory is not a valid
  space id, so it is never adopted, and the next copy to that id removes it).

At the next start the registry adopts the new directory like any space found on disk (router/registry.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import msgspec

from engram import space_naming
from engram.atomic import fsync_dir, write_atomic
from engram.errors import EngramError, ErrorCode
from engram.ids import validate_space_id
from router.registry import JOURNAL_FILE, REGISTRY_FILE, RegistryDocument, SpaceEntry, parse_journal_line

LOCK_FILE = "engram.lock"  # router/__main__.py holds it for the server's lifetime
STAGING_PREFIX = ".copy-"


class ServerRunning(Exception):
    """The data root's lock is held: a server runs on it (or is starting)."""


class SpaceCopied(NamedTuple):
    source: str
    new: str
    directory: Path
    files: int
    bytes: int


def copy_space(root: Path, source: str, new: str) -> SpaceCopied:
    """Copy the space ``source`` of the stopped server's data root ``root`` as the new space ``new``.

    Raises ``ServerRunning`` when a server holds the data root; EngramError MEMORY_SPACE_NOT_FOUND (no such space
    directory), MEMORY_SPACE_DELETED (the source is deleted), MEMORY_SPACE_EXISTS (``new`` has a directory or is
    known to the registry, deleted ones included) or INVALID_MEMORY_SPACE_ID."""
    root = Path(root)
    source = validate_space_id(source, source="space id to copy")
    new = validate_space_id(new, source="new space id")
    if not root.is_dir():
        raise _not_found(source, root)
    with _data_root_lock(root):
        known = registered_spaces(root)
        _check(root, source, new, known)
        staging = root / f"{STAGING_PREFIX}{new}-{os.getpid()}"
        for leftover in root.glob(f"{STAGING_PREFIX}{new}-*"):  # the lock is ours: no copy is running
            shutil.rmtree(leftover, ignore_errors=True)
        try:
            shutil.copytree(root / source, staging, ignore=_temporary_files, symlinks=True)
            _rename(staging, source, new)
            if source in known:
                _store_policy(staging, known[source])
            files, size = _sync_tree(staging)
            os.rename(staging, root / new)
            fsync_dir(root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return SpaceCopied(source, new, root / new, files, size)


def registered_spaces(root: Path) -> dict[str, SpaceEntry]:
    """The registry's entries, active and deleted, read as the router loads them (snapshot, then journal; damaged
    journal lines skipped) but without writing anything."""
    spaces: dict[str, SpaceEntry] = {}
    snapshot = root / REGISTRY_FILE
    if snapshot.exists():
        spaces = {e.id: e for e in msgspec.json.decode(snapshot.read_bytes(), type=RegistryDocument).spaces}
    journal = root / JOURNAL_FILE
    if journal.exists():
        for line in journal.read_bytes().split(b"\n"):
            entry = parse_journal_line(line) if line else None
            if entry is not None:
                spaces[entry.id] = entry
    return spaces


def _check(root: Path, source: str, new: str, known: dict[str, SpaceEntry]) -> None:
    entry = known.get(source)
    if entry is not None and entry.deleted:
        raise EngramError(
            ErrorCode.MEMORY_SPACE_DELETED,
            f"Memory space '{source}' was deleted; its data is on its way to the trash.",
            hint="Copy a space that exists (engram space list, with the server running).",
        )
    if not (root / source / space_naming.SETTINGS_FILE).is_file():
        raise _not_found(source, root)
    if (root / new).exists() or new in known:
        deleted = new in known and known[new].deleted and not (root / new).exists()
        why = "the registry holds it as deleted, so the server would purge the copy" if deleted else "it exists"
        raise EngramError(
            ErrorCode.MEMORY_SPACE_EXISTS,
            f"Cannot copy into memory space '{new}': {why}.",
            hint="Copy under an id the server has never had (engram space list --include-deleted shows them).",
        )


def _rename(staging: Path, source: str, new: str) -> None:
    try:
        space_naming.rename_space(staging, new)
    except space_naming.UnreadableNamingFile as exc:
        raise EngramError(
            ErrorCode.MEMORY_SYSTEM_ERROR,
            f"Cannot copy memory space '{source}': its {exc.path.relative_to(staging)} is not a JSON object "
            f"({exc.reason}).",
            hint="Restore that file from a backup, then copy again; nothing was created.",
        ) from exc


def _not_found(source: str, root: Path) -> EngramError:
    return EngramError(
        ErrorCode.MEMORY_SPACE_NOT_FOUND,
        f"Memory space '{source}' not found in {root} (no {source}/{space_naming.SETTINGS_FILE} there).",
        hint="Check --data-dir (or the configuration's data_root) and the space id.",
    )


@contextlib.contextmanager
def _data_root_lock(root: Path) -> Iterator[None]:
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ServerRunning(
                f"data directory {root} is in use by a running Engram server; stop it first (engram stop), "
                "or copy the space online with 'engram space export' and 'engram space import' (up to 2 GiB)"
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def _store_policy(directory: Path, entry: SpaceEntry) -> None:
    path = directory / space_naming.SETTINGS_FILE
    settings = msgspec.json.decode(path.read_bytes())
    if isinstance(settings, dict):
        settings["policy"] = msgspec.to_builtins(entry.policy)
        write_atomic(path, msgspec.json.encode(settings))


def _temporary_files(_directory: str, names: list[str]) -> set[str]:
    """Temporary files and unfinished snapshots (``.``-prefixed) are never part of a space's state."""
    return {name for name in names if name.startswith(".")}


def _sync_tree(directory: Path) -> tuple[int, int]:
    """fsync every file, then every directory deepest first; return the file count and their bytes."""
    files = size = 0
    for path in directory.rglob("*"):
        if path.is_file() and not path.is_symlink():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            files += 1
            size += path.stat().st_size
    directories = [directory, *(p for p in directory.rglob("*") if p.is_dir() and not p.is_symlink())]
    for path in sorted(directories, key=lambda p: len(p.parts), reverse=True):
        fsync_dir(path)
    return files, size
