"""Wrap a legacy single-space data directory into ``<data_root>/default/`` (DESIGN §6).

A deployment from before memory spaces kept one space's files directly under the data root: ``wal/``, ``hot/``,
``warm/``, ``cold/``, ``space.json`` and, from the original Engram, ``warm_tier.dat``. On start, before the registry
is read, those entries move into the default space's directory, so that space is adopted like any other and every
other directory under the root stays a space id.

``wal``, ``hot``, ``warm`` and ``cold`` are also valid space ids. A directory with one of those names is legacy only
when it is not a space itself, i.e. holds no ``space.json``.

Every move is a rename within one file system (atomic), and the root and the new directory are fsynced afterwards.
A crash in the middle leaves some entries moved and some not; the next start moves the rest, since the check is made
per entry.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import msgspec

from engram.atomic import fsync_dir, write_atomic

log = logging.getLogger(__name__)

LEGACY_DIRS = ("wal", "hot", "warm", "cold")
LEGACY_FILES = ("space.json", "warm_tier.dat")
SETTINGS_FILE = "space.json"


def legacy_entries(root: Path) -> list[Path]:
    """The entries of ``root`` that belong to a legacy single-space layout: none unless the root holds a legacy
    file or a ``wal/`` with log files (empty directories named like a tier prove nothing)."""
    files = [root / name for name in LEGACY_FILES if (root / name).is_file()]
    has_log = _is_legacy_dir(root / "wal") and any(p.suffix == ".log" for p in (root / "wal").iterdir())
    if not files and not has_log:
        return []
    return [root / name for name in LEGACY_DIRS if _is_legacy_dir(root / name)] + files


def wrap_legacy_layout(root: Path, default_space: str, default_dim: int) -> list[str]:
    """Move legacy entries of ``root`` into ``root/default_space``; return the names moved (empty: nothing legacy).

    An entry whose name already exists in the default space's directory is left where it is and logged: merging two
    logs is not something to do silently.
    """
    entries = legacy_entries(root)
    if not entries:
        return []
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


def _is_legacy_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not (path / SETTINGS_FILE).exists()
