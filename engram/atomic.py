"""Crash-safe file replacement, shared by the router (registry) and the workers (space settings, index segments).

A reader must see either the old file or the new one, never a mix, and once ``write_atomic`` returns the new
content must survive a power loss. Hence: write a temporary file in the same directory, fsync it, rename it
over the target (atomic on POSIX within one file system), then fsync the directory so the rename itself is
durable.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO


def fsync_dir(directory: Path) -> None:
    """Make the entries of ``directory`` (files created, renamed or removed in it) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | memoryview) -> None:
    """``os.write`` until every byte is written: a regular file may accept fewer bytes than asked."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably; on failure the old file is left untouched."""
    write_atomic_stream(path, lambda out: out.write(data))


def write_atomic_stream(
    path: Path, write: Callable[[IO[bytes]], object], *, tmp: Path | None = None, sync_dir: bool = True
) -> None:
    """``write_atomic`` for content produced by ``write(file)`` (np.save, pickle.dump): a large payload is
    streamed to disk instead of being held in memory twice. ``tmp`` names the temporary file (for callers that
    sweep their own leftovers); ``sync_dir=False`` leaves the directory fsync to a caller that moves many files."""
    tmp = tmp or path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if sync_dir:
        fsync_dir(path.parent)
