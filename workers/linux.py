"""The Linux calls the worker's durability needs and Python's ``os`` module lacks: ``syncfs`` and
``sync_file_range``, from libc through ctypes (each releases the interpreter lock while it runs), and what the
mount table says about a filesystem.

Each loader returns None where the call is missing or, for ``syncfs``, where the kernel would not report a
writeback error through it; the callers then use plain ``fdatasync`` (workers/durability.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from collections.abc import Callable

SYNCFS_MIN_KERNEL = (5, 8)  # the first Linux whose syncfs reports writeback errors
SYNC_FILE_RANGE_WAIT_BEFORE = 1
SYNC_FILE_RANGE_WRITE = 2
SYNC_FILE_RANGE_WAIT_AFTER = 4
SYNC_FILE_RANGE_WRITE_AND_WAIT = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER
"""With all three flags the kernel writes the range's dirty pages for data integrity (``WB_SYNC_ALL``), waits for
them, and reports a writeback error of the file since the descriptor last saw one, as ``fdatasync`` does."""
MOUNTINFO = "/proc/self/mountinfo"


def syncfs_function() -> Callable[[int], int] | None:
    """libc's syncfs (fd -> 0, or -1 with errno set) when this kernel's syncfs reports writeback errors."""
    if platform.system() != "Linux" or kernel_version() < SYNCFS_MIN_KERNEL:
        return None
    return _libc_function("syncfs", [ctypes.c_int])


def sync_file_range_function() -> Callable[[int, int, int, int], int] | None:
    """libc's sync_file_range (fd, offset, nbytes, flags -> 0, or -1 with errno set), or None off Linux."""
    if platform.system() != "Linux":
        return None
    return _libc_function("sync_file_range", [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint])


def errno_error(call: str, path: object) -> OSError:
    """The OSError for the errno a failed libc call left."""
    code = ctypes.get_errno()
    return OSError(code, f"{call}: {os.strerror(code)}", str(path))


def filesystem_of(device: int, mountinfo: str) -> tuple[str, list[str]] | None:
    """The filesystem type and superblock options of the mounted filesystem on ``device`` (``st_dev``), read from
    the text of /proc/self/mountinfo; None when no mount lists it."""
    wanted = f"{os.major(device)}:{os.minor(device)}"
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[2] != wanted or "-" not in fields[3:]:
            continue
        rest = fields[fields.index("-", 3) + 1 :]  # fstype, source, superblock options
        if not rest:
            continue
        return rest[0], rest[2].split(",") if len(rest) > 2 else []
    return None


def read_mountinfo() -> str:
    """This process's mount table ('' where there is none to read)."""
    try:
        with open(MOUNTINFO) as table:
            return table.read()
    except OSError:
        return ""


def kernel_version() -> tuple[int, int]:
    numbers = platform.release().split("-", 1)[0].split(".")
    try:
        return int(numbers[0]), int(numbers[1])
    except (IndexError, ValueError):
        return (0, 0)


def _libc_function(name: str, argtypes: list):
    try:
        function = getattr(ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True), name)
    except (OSError, AttributeError, TypeError):
        return None
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function
