"""A space's place on disk: its directories and its settings file.

Layout (DESIGN §6): ``<data_root>/<space>/{wal,hot,warm,cold}/`` and ``space.json``. Directories are created with
their parents fsynced, and ``space.json`` is written atomically, so a crash never leaves a space half-created.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from engram.atomic import fsync_dir, write_atomic
from engram.errors import EngramError, ErrorCode

SPACE_FORMAT = 1
SETTINGS_FILE = "space.json"
SUBDIRS = ("wal", "hot", "warm", "cold")


class SpaceSettings(msgspec.Struct):
    """``space.json``. The dimension is fixed for the life of the space: every stored vector has it."""

    id: str
    dim: int
    created_at: float
    format: int = SPACE_FORMAT


def make_dirs(directory: Path) -> None:
    """Create the space's directories, fsyncing each parent whose entries changed so they survive a crash."""
    if not directory.is_dir():
        directory.mkdir(parents=True)
        fsync_dir(directory.parent)
    missing = [directory / name for name in SUBDIRS if not (directory / name).is_dir()]
    for path in missing:
        path.mkdir()
    if missing:
        fsync_dir(directory)


def load_or_create_settings(directory: Path, new: SpaceSettings) -> SpaceSettings:
    path = directory / SETTINGS_FILE
    if not path.exists():
        write_atomic(path, msgspec.json.encode(new))
        return new
    try:
        settings = msgspec.json.decode(path.read_bytes(), type=SpaceSettings)
    except msgspec.DecodeError as exc:
        raise EngramError(
            ErrorCode.MEMORY_SYSTEM_ERROR,
            f"Settings of memory space '{new.id}' ({path}) cannot be read: {exc}",
            hint="Restore space.json from a backup; it holds the space's id, dim and created_at.",
        ) from exc
    if settings.format != SPACE_FORMAT:
        raise EngramError(
            ErrorCode.MEMORY_SYSTEM_ERROR,
            f"Memory space '{new.id}' has on-disk format {settings.format}; this server reads {SPACE_FORMAT}.",
            hint="Run the Engram version that wrote it, or migrate the space.",
        )
    return settings
