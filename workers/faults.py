"""Test-only fault injection: make one space's write-ahead log fail its writes or fsyncs on demand.

The crash and fault harness (bench/chaos.py) must prove that a failed fsync never acknowledges a write and that
the failure stays inside its space. A full disk or a dying device cannot be produced on demand on a shared test
machine, so the worker can simulate them for a space named in a JSON file: ``{"space-a": "eio_fsync"}``.

Off unless ``ENGRAM_FAULTS_FILE`` names such a file in the worker's environment (the supervisor and router hand
their environment on, so setting it for ``engram start`` reaches every worker). Then ``inject`` re-reads the file
at most once per ``REREAD_INTERVAL_S`` and raises the listed ``OSError`` for that space only. A missing or
unreadable file means no faults. Never set it in production: it exists so tests can fail storage on purpose.
"""

from __future__ import annotations

import errno
import json
import os
import time

FAULTS_FILE_ENV = "ENGRAM_FAULTS_FILE"
REREAD_INTERVAL_S = 1.0

WRITE = "write"
FSYNC = "fsync"

# fault name -> (the log operation it fails, the errno it raises)
FAULTS: dict[str, tuple[str, int]] = {
    "enospc": (WRITE, errno.ENOSPC),
    "eio_write": (WRITE, errno.EIO),
    "enospc_fsync": (FSYNC, errno.ENOSPC),
    "eio_fsync": (FSYNC, errno.EIO),
}

_path = os.environ.get(FAULTS_FILE_ENV) or None
_table: dict[str, str] = {}
_read_at = float("-inf")


def inject(space: str, operation: str) -> None:
    """Raise the OSError the faults file lists for ``space`` and ``operation`` (WRITE or FSYNC), if any."""
    if _path is None:
        return
    fault = _current().get(space)
    if fault is None or fault not in FAULTS:
        return
    failing, code = FAULTS[fault]
    if failing == operation:
        raise OSError(code, f"{os.strerror(code)} (injected by {FAULTS_FILE_ENV} for space '{space}')")


def _current() -> dict[str, str]:
    global _table, _read_at
    now = time.monotonic()
    if now - _read_at >= REREAD_INTERVAL_S:
        _read_at = now
        try:
            with open(_path) as file:  # type: ignore[arg-type]
                loaded = json.load(file)
            _table = {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            _table = {}
    return _table
