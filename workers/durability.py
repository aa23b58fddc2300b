"""Making a batch's writes durable: the cheapest way that is as safe as an ``fdatasync`` of every log it wrote.

Each space has a log of its own (DESIGN §6), so a batch that wrote k spaces needs k logs on disk before it is
answered. k ``fdatasync`` calls cost k waits for the disk, one after another: on the reference machine 8 logs took
2.5 ms of wall time and 1.0 ms of CPU, where one ``syncfs`` of their filesystem took 0.45 ms and 0.15 ms. Without
this the cost of a write grew with the number of spaces a worker serves at once, which is exactly what many spaces
must not cost (bench/fairness.py). Three ways, chosen per batch:

- **Overwrites** (the common case): a log whose new records only overwrote zeros it wrote ahead, whose blocks and
  size an earlier sync made durable (``Space.overwrites_only``, workers/wal.py), needs only its new pages on the
  disk. Their writes are started for every such log at once, then waited for, and the disk's cache is flushed once
  for all of them by an ``fdatasync`` of an empty file that is never written (``FLUSH_FILE``): on ext4 that is a
  cache flush and nothing else. An ``fdatasync`` of each log would also write its inode (the modification time) on
  ext4 without a journal, one more block write waited for per log, and a ``syncfs`` would write them all.
  Used only on ext4 not mounted ``data=journal`` (blocks overwritten in place; the filesystem measured), and only
  when ``sync_overwrites`` is on (the default).
- **syncfs**, for two or more other logs on the data root's filesystem (covering the batch's overwrites too, which
  then need no flush of their own). ``syncfs`` (Linux) writes back every dirty
  file of the filesystem and commits its journal, so a log synced that way is as durable as after its own
  ``fdatasync``; it reports a writeback error of any file of the filesystem since the previous call on the same
  descriptor (Linux 5.8 and later; older kernels would not report one, so there it is not used).
- **fdatasync**, for a single other log, or for any log on another filesystem than the data root (a space
  directory symlinked elsewhere).

An error that cannot be pinned on a space (a failed ``syncfs`` or cache flush) is not: the logs are then synced one
by one, and each reports its own failure.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from workers import linux
from workers.space import Space

log = logging.getLogger(__name__)

FLUSH_FILE = ".flush"
"""An empty file in the data root, never written: its ``fdatasync`` flushes the disk's write cache (see above)."""
IN_PLACE_FILESYSTEMS = ("ext4",)
"""Filesystems known to overwrite a written block in place, so that an overwrite needs no metadata to be found again
after a crash (not so on copy-on-write filesystems such as btrfs). Only ext4 has been measured here."""


class BatchSync:
    """Syncs the logs a batch wrote: overwrites with one cache flush, others alone or with one ``syncfs``."""

    def __init__(self, data_root: Path, *, sync_overwrites: bool = True) -> None:
        self._syncfs = linux.syncfs_function()
        self._fd = -1
        self._flush_fd = -1
        self._device = os.stat(data_root).st_dev
        if self._syncfs is not None:
            self._fd = os.open(data_root, os.O_RDONLY | os.O_DIRECTORY)
        if sync_overwrites and overwrites_in_place(self._device, linux.read_mountinfo()):
            try:
                self._flush_fd = os.open(data_root / FLUSH_FILE, os.O_RDONLY | os.O_CREAT, 0o644)
            except OSError as exc:  # the logs are still synced, each with its own fdatasync
                log.warning("cannot open %s (%s); overwrites are synced like any other write", FLUSH_FILE, exc)

    def sync(self, spaces: Mapping[str, Space], *, filesystem_wide: bool = True) -> dict[str, OSError]:
        """Make every given space's changes durable; returns the spaces that could not be, with their error.
        ``filesystem_wide`` False: sync each other log on its own even when there are several, because a
        ``syncfs`` now would also wait for bulk writes in flight (a snapshot being written by a forked child)."""
        dirty = {space_id: space for space_id, space in spaces.items() if space.dirty}
        on_root = {space_id for space_id, space in dirty.items() if space.log_device == self._device}
        failed: dict[str, OSError] = {}
        overwrites = (
            {space_id for space_id in on_root if dirty[space_id].overwrites_only} if self._flush_fd >= 0 else set()
        )
        others = on_root - overwrites
        whole = self._syncfs is not None and filesystem_wide and len(others) >= 2 and self._sync_filesystem()
        if whole:  # it covered the overwrites too
            overwrites = set()
        flushed = bool(overwrites) and self._write_out_and_flush({s: dirty[s] for s in overwrites}, failed)
        for space_id, space in dirty.items():
            if space_id in failed:
                continue
            try:
                space.sync(
                    filesystem_synced=whole and space_id in on_root, data_flushed=flushed and space_id in overwrites
                )
            except OSError as exc:
                failed[space_id] = exc
        return failed

    def close(self) -> None:
        for fd in (self._fd, self._flush_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._flush_fd = -1

    def _write_out_and_flush(self, spaces: Mapping[str, Space], failed: dict[str, OSError]) -> bool:
        """Write the overwriting logs' new pages (all started, then all waited for; a log whose writes failed goes
        into ``failed``), then flush the disk's cache once. False when the flush failed: each log then syncs itself."""
        for wait in (False, True):
            for space_id, space in spaces.items():
                if space_id in failed:
                    continue
                try:
                    space.write_out(wait=wait)
                except OSError as exc:
                    failed[space_id] = exc
        try:
            os.fdatasync(self._flush_fd)
            return True
        except OSError as exc:
            log.warning("flushing the disk's cache failed (%s); syncing each log on its own", exc)
            return False

    def _sync_filesystem(self) -> bool:
        """One syncfs of the data root's filesystem; False (each log then syncs itself) when it failed."""
        if self._syncfs(self._fd) == 0:  # type: ignore[misc]
            return True
        log.warning(
            "syncfs of the data root failed (%s); syncing each log on its own", linux.errno_error("syncfs", self._fd)
        )
        return False


def overwrites_in_place(device: int, mountinfo: str) -> bool:
    """Whether the filesystem on ``device`` overwrites written blocks in place with its data unjournaled (see
    ``IN_PLACE_FILESYSTEMS``), going by the mount table's text, and ``sync_file_range`` exists."""
    found = linux.filesystem_of(device, mountinfo)
    if found is None or linux.sync_file_range_function() is None:
        return False
    kind, options = found
    return kind in IN_PLACE_FILESYSTEMS and "data=journal" not in options
