"""Asking Linux to signal a process when its parent dies, so no orphan keeps working on a space's files."""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int = signal.SIGTERM) -> bool:
    """Have ``signum`` sent to this process when the thread that started it exits. False where prctl is missing
    (not Linux): the caller then needs another way to notice (the worker checks ``os.getppid``)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signum) == 0
    except (OSError, AttributeError):
        return False
