"""Loop-device filesystems for the fault harnesses: a sparse file made an ext4 disk and mounted, as root.

bench/power_cut.py cuts the power of one (copying its backing file as it is); bench/chaos.py fills one that holds a
single space's directory. Both need root, ``losetup``, ``mount`` and ``mkfs.ext4``; ``loop_disks_available`` says
why not where they are missing, so the harnesses report their piece as not run instead of failing.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from engram.testing import wait_until

MOUNT_OPTIONS = "data=writeback"
"""Not ext4's default ``data=ordered``, which writes every file's newly allocated data before each journal commit:
any process's fsync then also made the appends of every other file durable, and hid a missing fsync of its own.
A registry journal appended without its fsync lost no space over 8 cuts under ``data=ordered`` and brought 2 deleted
spaces back under ``data=writeback`` (docs/durability.md). A correct program is durable under both."""
UNMOUNT_TIMEOUT_S = 30.0
PROBE_BYTES = 16 * 1024 * 1024


class LoopDiskUnavailable(RuntimeError):
    """This machine (or user) cannot make and mount a loop-device filesystem."""


def run_checked(*command: str) -> str:
    """Run a system command; its output, or LoopDiskUnavailable saying what failed."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise LoopDiskUnavailable(f"{' '.join(command)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


@contextlib.contextmanager
def mounted(image: Path, mount_point: Path) -> Iterator[Path]:
    """``image`` attached to a free loop device and mounted at ``mount_point`` (undone on exit)."""
    device = run_checked("losetup", "--find", "--show", str(image))
    try:
        run_checked("mount", "-t", "ext4", "-o", MOUNT_OPTIONS, device, str(mount_point))
        try:
            yield mount_point
        finally:
            wait_until(lambda: _unmounted(mount_point), timeout_s=UNMOUNT_TIMEOUT_S, message=f"{mount_point} unmounted")
    finally:
        run_checked("losetup", "--detach", device)


def _unmounted(mount_point: Path) -> bool:
    """Unmount; False while a killed server's processes are still closing their files there."""
    done = subprocess.run(["umount", str(mount_point)], capture_output=True, text=True)
    return done.returncode == 0


def make_disk(image: Path, size_bytes: int) -> None:
    """A new sparse image of ``size_bytes`` with an ext4 filesystem (with its journal, as ext4 is made by
    default)."""
    if shutil.which("mkfs.ext4") is None or shutil.which("losetup") is None:
        raise LoopDiskUnavailable("mkfs.ext4 and losetup are needed (Debian: e2fsprogs, mount)")
    with image.open("wb") as disk:
        disk.truncate(size_bytes)
    run_checked("mkfs.ext4", "-q", "-F", str(image))


def loop_disks_available() -> str | None:
    """None when this process can make, mount and unmount a loop-device filesystem; else why not."""
    try:
        with tempfile.TemporaryDirectory(prefix="engram-cut-probe-") as scratch:
            image, mount_point = Path(scratch) / "probe.img", Path(scratch) / "mnt"
            mount_point.mkdir()
            make_disk(image, PROBE_BYTES)
            with mounted(image, mount_point):
                pass
    except (LoopDiskUnavailable, OSError) as exc:
        return str(exc)
    return None
