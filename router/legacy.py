"""Wrap a legacy single-space data directory into ``<data_root>/<default_space>/`` (DESIGN §6).

A deployment from before memory spaces kept one space's files directly under the data root: ``wal/``, ``hot/``,
``warm/``, ``cold/``, ``space.json``, ``consolidations.json`` (the last consolidation pass, workers/consolidation.py)
and, from the original Engram, ``warm_tier.dat``. On start, before the registry is read, those entries move into the
default space's directory, so that space is adopted like any other and every other directory under the root stays a
space id.

``wal``, ``hot``, ``warm`` and ``cold`` are also valid space ids. A directory with one of those names is legacy only
when it is not a space itself, i.e. holds no ``space.json``. ``consolidations.json`` moves with a legacy layout but
is no sign of one: an older version of this wrap left it behind at the root of data directories wrapped since.

The space's id is also recorded in ``space.json`` and in each snapshot's manifest, and a snapshot naming another
space is refused on open. So before anything moves, those files are made to name ``default_space``
(engram/space_naming.py, the same code an import under a new id uses): wrapped under any name, the snapshot loads and
every memory stays.

Every move is a rename within one file system (atomic), and the root and the new directory are fsynced afterwards.
A crash in the middle leaves some entries moved and some not; the next start renames again (harmless) and moves the
rest, since the check is made per entry. The entries that mark a layout as legacy (``wal/`` with logs,
``space.json``, ``warm_tier.dat``) move last, so the root stays recognisably legacy until nothing else is left.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import msgspec

from engram import space_naming
from engram.atomic import fsync_dir, write_atomic

log = logging.getLogger(__name__)

LEGACY_DIRS = ("hot", "warm", "cold", "wal")
LEGACY_FILES = ("space.json", "warm_tier.dat")
"""Files that mark the root as a legacy layout."""
COMPANION_FILES = ("consolidations.json",)
"""Files of the legacy space that move with it but do not, alone, mark the root as legacy."""
SETTINGS_FILE = space_naming.SETTINGS_FILE


def legacy_entries(root: Path) -> list[Path]:
    """The entries of ``root`` that belong to a legacy single-space layout, in the order they move (the entries that
    mark a layout as legacy last): none unless the root holds a legacy file or a ``wal/`` with log files (empty
    directories named like a tier prove nothing)."""
    markers = [root / name for name in LEGACY_FILES if (root / name).is_file()]
    has_log = _is_legacy_dir(root / "wal") and any(p.suffix == ".log" for p in (root / "wal").iterdir())
    if not markers and not has_log:
        return []
    companions = [root / name for name in COMPANION_FILES if (root / name).is_file()]
    return companions + [root / name for name in LEGACY_DIRS if _is_legacy_dir(root / name)] + markers


def wrap_legacy_layout(root: Path, default_space: str, default_dim: int) -> list[str]:
    """Move legacy entries of ``root`` into ``root/default_space``; return the names moved (empty: nothing legacy).

    An entry whose name already exists in the default space's directory is left where it is and logged: merging two
    logs is not something to do silently.
    """
    entries = legacy_entries(root)
    if not entries:
        return []
    _name_the_space(root, entries, default_space)
    target = root / default_space
    if not target.exists():
        target.mkdir()
        fsync_dir(root)
    moved = []
    for entry in entries:
        destination = target / entry.name
        if destination.exists():
            log.error("legacy %s not moved: %s exists already; move it by hand", entry, destination)
            continue
        os.rename(entry, destination)
        moved.append(entry.name)
    if not (target / SETTINGS_FILE).exists():
        settings = {"id": default_space, "dim": default_dim, "created_at": time.time(), "format": 1}
        write_atomic(target / SETTINGS_FILE, msgspec.json.encode(settings))
    fsync_dir(target)
    fsync_dir(root)
    log.warning("wrapped legacy single-space data (%s) into %s", ", ".join(moved) or "nothing", target)
    return moved


def _name_the_space(root: Path, entries: list[Path], space: str) -> None:
    """Make the legacy ``space.json`` and snapshot manifests name ``space``, in place, before they move. A file that
    cannot be read is left as it is: opening the space reports it (an unreadable manifest is a rejected snapshot)."""
    names = {entry.name for entry in entries}
    files = [root / SETTINGS_FILE] if SETTINGS_FILE in names else []
    if "hot" in names:
        files += sorted(root.glob(space_naming.SNAPSHOT_MANIFESTS))
    renamed = 0
    for path in files:
        try:
            renamed += space_naming.rename_file(path, space)
        except space_naming.UnreadableNamingFile as exc:
            log.error("legacy %s left as it is: %s", path, exc)
    if renamed:
        log.info("legacy data renamed to space %r in %d file(s) (space.json, snapshot manifests)", space, renamed)


def _is_legacy_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not (path / SETTINGS_FILE).exists()
