"""Deleting a space's directory: moved out of the way at once, removed for good later.

A space can hold gigabytes, and removing them file by file takes long enough to stall a worker's loop (and with it
every other space of that worker). So a delete renames ``<data_root>/<space>`` to
``<data_root>/.trash/<space>.<ns>`` (one atomic rename, both parents fsynced: after a crash the space is either
still in place or in the trash, never half of each) and a background thread removes the trash entry. ``.trash``
is not a valid space id, so nothing ever mistakes it for a space. Whatever a crash leaves in the trash is removed
when the router starts (``empty_in_background``); the worker that owns a space and the router at start-up, before
any worker runs, are the only ones that move a space into it.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
import time
from pathlib import Path

from engram.atomic import fsync_dir

log = logging.getLogger(__name__)

TRASH_DIR = ".trash"


def move_to_trash(data_root: Path, space_id: str) -> Path | None:
    """Rename the space's directory into the trash, durably; None when there is no such directory."""
    data_root = Path(data_root)
    source = data_root / space_id
    if not source.exists():
        return None
    trash = data_root / TRASH_DIR
    if not trash.is_dir():
        trash.mkdir(exist_ok=True)
        fsync_dir(data_root)
    target = trash / f"{space_id}.{time.time_ns()}"
    os.rename(source, target)
    fsync_dir(data_root)
    fsync_dir(trash)
    return target


def purge(path: Path) -> None:
    """Remove a trash entry for good (best effort: what is left is removed at the next start)."""
    started = time.monotonic()
    failures: list[str] = []
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=lambda _function, name, exc: failures.append(f"{name}: {exc}"))
    else:
        shutil.rmtree(path, onerror=lambda _function, name, info: failures.append(f"{name}: {info[1]}"))
    if failures and Path(path).exists():
        log.warning("purging %s left %d entr(ies) behind (%s); the next start retries", path, len(failures),
                    failures[0])  # fmt: skip
    else:
        log.info("purged %s in %.2f s", path, time.monotonic() - started)


def purge_in_background(path: Path) -> threading.Thread:
    """``purge`` in a daemon thread: the caller (a worker's loop) goes on serving at once."""
    thread = threading.Thread(target=purge, args=(path,), name=f"purge {Path(path).name}", daemon=True)
    thread.start()
    return thread


def empty_in_background(data_root: Path) -> threading.Thread | None:
    """Purge every entry of the trash in a daemon thread (start-up: never blocks it); None when it is empty."""
    trash = Path(data_root) / TRASH_DIR
    try:
        entries = sorted(trash.iterdir())
    except FileNotFoundError:
        return None
    except OSError as exc:  # not a directory, unreadable: deletes will fail loudly, the start must not
        log.error("cannot read the trash %s: %s", trash, exc)
        return None
    if not entries:
        return None

    def purge_all() -> None:
        for entry in entries:
            purge(entry)

    thread = threading.Thread(target=purge_all, name="empty trash", daemon=True)
    thread.start()
    return thread
