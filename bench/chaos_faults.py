"""The faults bench/chaos.py injects into a live server, and how it finds the processes to kill.

Process kills (a router worker, the router, a gunicorn worker) SIGKILL one process found under the server's
supervisor in /proc and wait until whoever supervises it has replaced it. ``corrupt_wal_tail`` damages the newest
log segment of a stopped server's space. I/O faults are written to the file the workers' test-only hook reads
(workers/faults.py); only the harness's writers then see what the space answers. ``fill_disk`` fills the real
filesystem that holds one space's directory (bench/chaos.py puts it on a small loop-device disk of its own) until
the kernel refuses a page, which reaches code the hook cannot: a record that still fits after its zeros did not.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from engram.testing import RunningServer, children_by_parent, wait_until
from workers import faults, wal
from workers.records import DeleteRecord, PutRecord, decode_record

RECOVERY_TIMEOUT_S = 60.0
PROCESS_KINDS = ("worker", "router", "http_worker")
IO_KINDS = tuple(faults.FAULTS)  # "enospc", "eio_write", "enospc_fsync", "eio_fsync"
WAL_KIND = "wal_tail"
DISK_KIND = "disk_full"
FAULT_KINDS = (*PROCESS_KINDS, WAL_KIND, *IO_KINDS, DISK_KIND)
STORAGE_KINDS = (*IO_KINDS, DISK_KIND)  # one space's storage fails while the others' does not
SMALL_DISK_BYTES = 32 * 1024 * 1024  # the filesystem holding the ``disk_full`` victim's directory
FILL_CHUNKS = (1 << 20, 1 << 12)  # filler writes: megabytes, then pages, until the disk refuses
GARBAGE_BYTES = 37  # appended by a "garbage" corruption: shorter than a header plus a record, never valid


def health(url: str) -> dict | None:
    try:
        response = requests.get(f"{url}/health", timeout=5)
    except requests.RequestException:
        return None
    return response.json() if response.status_code == 200 else None


def serving(url: str) -> bool:
    """/health answers 200: the router is reachable and every worker is ready."""
    return health(url) is not None


def children(pid: int) -> list[int]:
    return sorted(children_by_parent().get(pid, []))


def cmdline(pid: int) -> list[str]:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def environ_of(pid: int) -> dict[str, str]:
    try:
        raw = (Path("/proc") / str(pid) / "environ").read_bytes().decode(errors="replace")
    except OSError:
        return {}
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def child_running(supervisor_pid: int, module: str) -> int | None:
    """The pid of the supervisor's child started as ``python -m <module>``."""
    for pid in children(supervisor_pid):
        args = cmdline(pid)
        if "-m" in args and args[args.index("-m") + 1 : args.index("-m") + 2] == [module]:
            return pid
    return None


@dataclass
class Killed:
    target: str
    recovery_s: float


def kill_worker(url: str, rng: random.Random) -> Killed:
    """SIGKILL one ready router worker; the router starts a replacement in its slot."""
    ready = sorted((w for w in health_workers(url) if w["ready"]), key=lambda w: w["id"])
    victim = rng.choice(ready)
    os.kill(victim["pid"], signal.SIGKILL)
    killed_at = time.monotonic()

    def replaced() -> bool:
        current = {w["id"]: w for w in health_workers(url)}.get(victim["id"])
        return current is not None and current["pid"] != victim["pid"] and current["ready"]

    wait_until(replaced, RECOVERY_TIMEOUT_S, 0.02, "replacement worker ready")
    return Killed(f"worker {victim['id']} (pid {victim['pid']})", time.monotonic() - killed_at)


def health_workers(url: str) -> list[dict]:
    try:
        return requests.get(f"{url}/health", timeout=5).json().get("workers", [])
    except (requests.RequestException, ValueError):
        return []


def kill_router(server: RunningServer) -> Killed:
    """SIGKILL the router; its workers die with it (PDEATHSIG) and the supervisor starts a new router."""
    supervisor = server.process.pid  # type: ignore[union-attr]
    victim = child_running(supervisor, "router")
    assert victim is not None, "no router process under the supervisor"
    old_workers = {w["pid"] for w in health_workers(server.url)}
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()

    def replaced() -> bool:
        router = child_running(supervisor, "router")
        if router in (None, victim) or not serving(server.url):
            return False
        return not old_workers & {w["pid"] for w in health_workers(server.url)}

    wait_until(replaced, RECOVERY_TIMEOUT_S, 0.05, "new router with new workers serving")
    return Killed(f"router (pid {victim})", time.monotonic() - killed_at)


def kill_http_worker(server: RunningServer, rng: random.Random) -> Killed:
    """SIGKILL one gunicorn worker; gunicorn's master forks a replacement."""
    master = child_running(server.process.pid, "gunicorn")  # type: ignore[union-attr]
    assert master is not None, "no gunicorn master under the supervisor"
    before = children(master)
    victim = rng.choice(before)
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()

    def replaced() -> bool:
        now = children(master)
        return victim not in now and len(now) >= len(before) and serving(server.url)

    wait_until(replaced, RECOVERY_TIMEOUT_S, 0.05, "gunicorn worker replaced")
    return Killed(f"gunicorn worker (pid {victim})", time.monotonic() - killed_at)


@dataclass
class Corruption:
    space: str
    segment: str
    mode: str  # "garbage" (bytes appended after the last record) or "flip" (a byte of the last record flipped)
    destroyed_ids: list[str]  # memory ids whose record the flip destroyed: acknowledged, and lost on purpose


def corrupt_wal_tail(data_dir: Path, spaces: list[str], rng: random.Random) -> Corruption | None:
    """Damage the newest log segment of one of ``spaces`` (the server must be stopped). A flip can only hit a
    segment with records; a clean stop may have snapshotted and rolled the log, leaving the newest one empty."""
    candidates = [s for s in spaces if wal.segments(data_dir / s / "wal")]
    if not candidates:
        return None
    space = rng.choice(candidates)
    segment = wal.segments(data_dir / space / "wal")[-1]
    data = segment.read_bytes()
    payloads: list[bytes] = []
    end, damage = wal._scan(data, payloads)  # a killed writer may have left zeros after its records
    if payloads and damage is None and rng.random() < 0.5:
        last = payloads[-1]
        start = end - len(last)
        position = start + rng.randrange(len(last))
        damaged = bytearray(data)
        damaged[position] ^= 0xFF
        segment.write_bytes(bytes(damaged))
        record = decode_record(last)
        destroyed = [record.id] if isinstance(record, (PutRecord, DeleteRecord)) else []
        return Corruption(space, segment.name, "flip", destroyed)
    with segment.open("ab") as out:
        out.write(rng.randbytes(GARBAGE_BYTES))
    return Corruption(space, segment.name, "garbage", [])


def dropped_files(data_dir: Path, space: str) -> list[str]:
    """The forensic copies recovery made of damaged log tails (workers/wal.py)."""
    wal_dir = data_dir / space / "wal"
    return sorted(p.name for p in wal_dir.glob("dropped-*.bin")) if wal_dir.is_dir() else []


def set_io_faults(path: Path, table: dict[str, str]) -> None:
    """Write the faults file atomically: a worker re-reading it never sees half a table."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(table))
    temporary.replace(path)


def fill_disk(directory: Path) -> list[Path]:
    """Fill the filesystem holding ``directory`` with filler files (each fsynced) until a write of a page fails
    with ENOSPC; returns them, for ``empty_disk``."""
    fillers = []
    for number, chunk in enumerate(FILL_CHUNKS):
        path = directory / f".filler-{number}"
        fillers.append(path)
        with path.open("wb", buffering=0) as out:
            try:
                while True:
                    out.write(bytes(chunk))
                    os.fsync(out.fileno())
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return fillers


def empty_disk(fillers: list[Path]) -> None:
    for path in fillers:
        path.unlink(missing_ok=True)
