"""What a sync costs a log that was idle before its record, in one process (no server).

    python bench/log_spacing.py [--records 400] [--size 3500] [--gaps-ms 2,5] [--logs 1000] [--dir DIR]
                                [--out bench/results/log_spacing.json]

Many spaces write their logs far less often each than one busy space writes its own, and on some filesystems that
alone makes a sync dearer: a write updates the file's modification time whenever the kernel's coarse clock moved
on since the last one, and on ext4 without a journal the ``fdatasync`` that follows then writes the file's inode
too (docs/scaling.md, "How many workers"). This measures a synced record (``--size`` bytes, written over the zeros
the log writes ahead: workers/wal.py) in these shapes:

- ``back to back``: one log, each record right after the last one's sync (a busy space);
- ``N ms apart``: one log, each record ``N`` ms after the last one's sync, waited out busily so the CPU does not
  go idle in between (``--gaps-ms``);
- ``round robin``: one record to each of ``--logs`` logs in turn, each synced alone (many spaces);
- ``round robin, k per sync``: one record to each of the next k logs, synced together (a batch of a worker that
  serves many spaces).

Each shape runs twice, syncing as the worker does (workers/durability.py's ``BatchSync``) with ``sync_overwrites``
off (an ``fdatasync`` per log, or one ``syncfs`` for several) and on (the logs' pages written out and one flush of
the disk's cache, where the data root is on ext4: docs/durability.md, "Syncing overwrites").

Figures per sync: the median wall time, the mean CPU time of this thread in the write and the sync, and the block
device's write requests (from /sys/dev/block; empty when the device's counters cannot be read, e.g. on tmpfs). Run
it on the disk of the data root (``--dir``): what it measures is the filesystem's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import write_json  # noqa: E402
from workers import wal  # noqa: E402
from workers.durability import BatchSync  # noqa: E402

DEFAULT_OUT = "bench/results/log_spacing.json"
WRITES_FIELD = 4  # /sys/block/<dev>/stat: the fifth field counts completed write requests


def device_writes_reader(directory: Path) -> Callable[[], int] | None:
    """A function returning the write requests completed so far by the block device holding ``directory``, or None
    when it has no readable counters (a filesystem without a block device of its own)."""
    device = os.stat(directory).st_dev
    path = Path(f"/sys/dev/block/{os.major(device)}:{os.minor(device)}/stat")

    def writes() -> int:
        return int(path.read_text().split()[WRITES_FIELD])

    try:
        writes()
    except (OSError, IndexError, ValueError):
        return None
    return writes


def _busy_wait(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class _LogAsSpace:
    """A bare log as workers/durability.BatchSync sees a space, so the benchmark syncs through the worker's code."""

    def __init__(self, writer: wal.WalWriter) -> None:
        self.writer = writer

    def __getattr__(self, name: str):
        return getattr(self.writer, name)

    @property
    def log_device(self) -> int:
        return self.writer.device


def measure(
    directory: Path, logs: int, records: int, size: int, gap_s: float, per_sync: int = 1, overwrites: bool = False
) -> dict:
    """Per-sync figures for ``records`` syncs, each of one record to each of the next ``per_sync`` of ``logs`` logs
    in turn, ``gap_s`` after the previous sync, synced as the worker syncs a batch (workers/durability.py), with
    ``sync_overwrites`` on or off."""
    writers = [wal.WalWriter.open(directory / f"log{number}") for number in range(logs)]
    spaces = {str(number): _LogAsSpace(writer) for number, writer in enumerate(writers)}
    batch = BatchSync(directory, sync_overwrites=overwrites)
    payload = os.urandom(size)
    for writer in writers:
        writer.append(payload)  # each log's first extension and directory entry: not what is measured
        writer.sync()
    device_writes = device_writes_reader(directory)
    walls, cpu = [], 0.0
    writes_before = device_writes() if device_writes else 0
    for number in range(records):
        if gap_s:
            _busy_wait(gap_s)
        names = [str((number * per_sync + k) % logs) for k in range(per_sync)]
        started, started_cpu = time.perf_counter(), time.thread_time()
        for name in names:
            spaces[name].append(payload)
        failed = batch.sync({name: spaces[name] for name in names})  # type: ignore[misc]
        walls.append(time.perf_counter() - started)
        cpu += time.thread_time() - started_cpu
        if failed:
            raise next(iter(failed.values()))
    writes = (device_writes() - writes_before) / records if device_writes else None
    for writer in writers:
        writer.close()
    batch.close()
    return {
        "wall_us": round(statistics.median(walls) * 1e6, 1),
        "cpu_us": round(cpu / records * 1e6, 1),
        "block_writes_per_sync": None if writes is None else round(writes, 2),
    }


def shapes(gaps_ms: list[float], logs: int) -> list[tuple[str, int, float, int]]:
    """(name, logs, gap in seconds, logs per sync) of each measured shape, in the order they run."""
    return [
        ("back to back", 1, 0.0, 1),
        *[(f"{gap:g} ms apart", 1, gap / 1000.0, 1) for gap in gaps_ms],
        (f"round robin over {logs} logs", logs, 0.0, 1),
        *[(f"round robin over {logs} logs, {k} per sync", logs, 0.0, k) for k in (2, 4) if k <= logs],
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=400)
    parser.add_argument("--size", type=int, default=3500, help="payload bytes of each record")
    parser.add_argument("--gaps-ms", default="2,5", help="idle time before each record, one shape per value")
    parser.add_argument("--logs", type=int, default=1000, help="logs of the round-robin shape")
    parser.add_argument("--dir", help="where the logs go (default: a temporary directory)")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    gaps = [float(g) for g in args.gaps_ms.split(",") if g.strip()]
    rows = []
    for name, logs, gap_s, per_sync in shapes(gaps, args.logs):
        for overwrites in (False, True):
            with tempfile.TemporaryDirectory(dir=args.dir, prefix="log-spacing-") as scratch:
                figures = measure(Path(scratch), logs, args.records, args.size, gap_s, per_sync, overwrites)
            rows.append({"shape": name, "sync_overwrites": overwrites, **figures})
    print("\n| records | sync_overwrites | wall µs per sync (median) | CPU µs per sync | block writes per sync |")
    print("|---|---|---|---|---|")
    for row in rows:
        writes = "" if row["block_writes_per_sync"] is None else f"{row['block_writes_per_sync']:.2f}"
        how = "on" if row["sync_overwrites"] else "off"
        print(f"| {row['shape']} | {how} | {row['wall_us']:.0f} | {row['cpu_us']:.0f} | {writes} |")
    write_json(args.out, {"records": args.records, "size": args.size, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
