"""A space's place on disk: its directories and its settings file.

Layout (DESIGN §6): ``<data_root>/<space>/{wal,hot,warm,cold}/`` and ``space.json``. Directories are created with
their parents fsynced, and ``space.json`` is written atomically, so a crash never leaves a space half-created.

``space.json`` also keeps the space's policy (durability, quotas) as the router's registry last sent it, so a space
directory carries everything needed to adopt it into a lost registry. The registry stays the authority: the worker
rewrites the policy here whenever a request brings a different one (``store_policy``).
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from engram.atomic import fsync_dir, write_atomic
from engram.errors import EngramError, ErrorCode
from engram.protocol import SpacePolicy

SPACE_FORMAT = 1
SETTINGS_FILE = "space.json"
SUBDIRS = ("wal", "hot", "warm", "cold")


class SpaceSettings(msgspec.Struct):
    """``space.json``. The dimension is fixed for the life of the space: every stored vector has it."""

    id: str
    dim: int
    created_at: float
    format: int = SPACE_FORMAT
    policy: SpacePolicy = SpacePolicy()


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
    return read_settings(directory, new.id)


def store_policy(directory: Path, space_id: str, policy: SpacePolicy) -> bool:
    """Keep ``policy`` in the space's ``space.json``, rewritten (atomically) only when it differs; False when the
    space has no settings file yet (it is written, with its policy, when the space is first opened)."""
    if not (directory / SETTINGS_FILE).exists():
        return False
    settings = read_settings(directory, space_id)
    if settings.policy != policy:
        write_atomic(directory / SETTINGS_FILE, msgspec.json.encode(msgspec.structs.replace(settings, policy=policy)))
    return True


def read_settings(directory: Path, space_id: str) -> SpaceSettings:
    """The space's ``space.json``; MEMORY_SYSTEM_ERROR when it cannot be read or has another format."""
    path = directory / SETTINGS_FILE
    try:
        settings = msgspec.json.decode(path.read_bytes(), type=SpaceSettings)
    except msgspec.DecodeError as exc:
        raise EngramError(
            ErrorCode.MEMORY_SYSTEM_ERROR,
            f"Settings of memory space '{space_id}' ({path}) cannot be read: {exc}",
            hint="Restore space.json from a backup; it holds the space's id, dim and created_at.",
        ) from exc
    if settings.format != SPACE_FORMAT:
        raise EngramError(
            ErrorCode.MEMORY_SYSTEM_ERROR,
            f"Memory space '{space_id}' has on-disk format {settings.format}; this server reads {SPACE_FORMAT}.",
            hint="Run the Engram version that wrote it, or migrate the space.",
        )
    return settings
