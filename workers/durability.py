"""Making a batch's writes durable: one filesystem-wide sync when a batch wrote several spaces' logs.

Each space has a log of its own (DESIGN §6), so a batch that wrote k spaces needs k logs on disk before it is
answered. k ``fdatasync`` calls cost k journal commits, one after another: on the reference machine 8 logs took
2.5 ms of wall time and 1.0 ms of CPU, where one ``syncfs`` of their filesystem took 0.45 ms and 0.15 ms. Without
this the cost of a write grew with the number of spaces a worker serves at once, which is exactly what many spaces
must not cost (bench/fairness.py). A batch that wrote one log keeps its ``fdatasync``: it touches nothing else.

``syncfs`` (Linux) writes back every dirty file of the filesystem and commits its journal, so a log synced that way
is as durable as after its own ``fdatasync``; it reports a writeback error of any file of the filesystem since the
previous call on the same descriptor (Linux 5.8 and later; older kernels would not report one, so there it is not
used). An error is not pinned on a space: the logs are then synced one by one, and each reports its own failure.
A log on another filesystem than the data root (a space directory symlinked elsewhere) is always synced on its own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform
from collections.abc import Mapping
from pathlib import Path

from workers.space import Space

log = logging.getLogger(__name__)

SYNCFS_MIN_KERNEL = (5, 8)  # the first Linux whose syncfs reports writeback errors


class BatchSync:
    """Syncs the logs a batch wrote: alone when there is one, with one ``syncfs`` of the data root when several."""

    def __init__(self, data_root: Path) -> None:
        self._syncfs = _syncfs_function()
        self._fd = -1
        self._device = -1
        if self._syncfs is not None:
            self._fd = os.open(data_root, os.O_RDONLY | os.O_DIRECTORY)
            self._device = os.fstat(self._fd).st_dev

    def sync(self, spaces: Mapping[str, Space], *, filesystem_wide: bool = True) -> dict[str, OSError]:
        """Make every given space's changes durable; returns the spaces that could not be, with their error.
        ``filesystem_wide`` False: sync each log on its own even when there are several, because a ``syncfs`` now
        would also wait for bulk writes in flight (a snapshot being written by a forked child)."""
        dirty = {space_id: space for space_id, space in spaces.items() if space.dirty}
        on_root = {space_id for space_id, space in dirty.items() if space.log_device == self._device}
        whole = filesystem_wide and len(on_root) >= 2 and self._sync_filesystem()
        failed: dict[str, OSError] = {}
        for space_id, space in dirty.items():
            try:
                space.sync(filesystem_synced=whole and space_id in on_root)
            except OSError as exc:
                failed[space_id] = exc
        return failed

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _sync_filesystem(self) -> bool:
        """One syncfs of the data root's filesystem; False (each log then syncs itself) when it failed."""
        if self._syncfs(self._fd) == 0:  # type: ignore[misc]
            return True
        code = ctypes.get_errno()
        log.warning("syncfs of the data root failed (%s); syncing each log on its own", os.strerror(code))
        return False


def _syncfs_function():
    """libc's syncfs when this kernel's syncfs reports writeback errors, else None."""
    if platform.system() != "Linux" or _kernel_version() < SYNCFS_MIN_KERNEL:
        return None
    name = ctypes.util.find_library("c")
    try:
        function = ctypes.CDLL(name, use_errno=True).syncfs
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


def _kernel_version() -> tuple[int, int]:
    numbers = platform.release().split("-", 1)[0].split(".")
    try:
        return int(numbers[0]), int(numbers[1])
    except (IndexError, ValueError):
        return (0, 0)
