"""What writing log space ahead saves each fsync, in one process (no server).

    python bench/wal_prewrite.py [--records 400] [--size 3500] [--logs 1,2] [--rounds 3] [--dir DIR]
                                 [--out bench/results/wal_prewrite.json]

The write-ahead log writes zeros ahead of its records and writes records over them (workers/wal.py), so the
``fdatasync`` that acknowledges a batch writes the data and flushes the disk's cache, without the block allocation
and the inode update an append needs. This appends ``--records`` records of ``--size`` bytes (a remember of a
768-dim embedding is about 3.5 KB) to each of ``--logs`` logs, syncing every log after each round of appends as the
worker does for a batch that wrote that many spaces, once with zeros written ahead (the default) and once with
plain appends (``PREWRITE_BYTES = 0``). Modes alternate over ``--rounds``; the figures are the medians of the rounds:
wall time and this thread's CPU time per batch. Run it on the disk of the data root (``--dir``): the saving is the
filesystem's and the device's.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import write_json  # noqa: E402
from workers import wal  # noqa: E402

DEFAULT_OUT = "bench/results/wal_prewrite.json"
MODES = {"prewritten": wal.PREWRITE_BYTES, "appended": 0}


def _thread_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime


def one_run(directory: Path, logs: int, records: int, size: int, prewrite: int) -> tuple[float, float]:
    """Wall and CPU seconds per batch (one record appended to each log, then each log synced)."""
    configured, wal.PREWRITE_BYTES = wal.PREWRITE_BYTES, prewrite
    try:
        writers = [wal.WalWriter.open(directory / f"log{number}") for number in range(logs)]
        payload = os.urandom(size)
        for writer in writers:
            writer.sync()  # the new segments' directory entries: not what is measured
        wall, cpu = time.perf_counter(), _thread_cpu_s()
        for _ in range(records):
            for writer in writers:
                writer.append(payload)
            for writer in writers:
                writer.sync()
        wall, cpu = time.perf_counter() - wall, _thread_cpu_s() - cpu
        for writer in writers:
            writer.close()
    finally:
        wal.PREWRITE_BYTES = configured
    return wall / records, cpu / records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=400)
    parser.add_argument("--size", type=int, default=3500, help="payload bytes of each record")
    parser.add_argument("--logs", default="1,2", help="logs written and synced per batch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", help="where the logs go (default: a temporary directory)")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.logs.split(",") if c.strip()]
    rows = []
    for logs in counts:
        runs: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
        for round_number in range(args.rounds):
            order = list(MODES) if round_number % 2 == 0 else list(reversed(MODES))
            for mode in order:
                with tempfile.TemporaryDirectory(dir=args.dir, prefix="wal-prewrite-") as scratch:
                    runs[mode].append(one_run(Path(scratch), logs, args.records, args.size, MODES[mode]))
        row = {"logs": logs}
        for mode, measured in runs.items():
            row[f"{mode}_wall_us"] = round(statistics.median(w for w, _ in measured) * 1e6, 1)
            row[f"{mode}_cpu_us"] = round(statistics.median(c for _, c in measured) * 1e6, 1)
        row["wall_ratio"] = round(row["prewritten_wall_us"] / row["appended_wall_us"], 3)
        row["cpu_ratio"] = round(row["prewritten_cpu_us"] / row["appended_cpu_us"], 3)
        rows.append(row)
    print("\n| logs per batch | appended: wall / CPU µs | prewritten: wall / CPU µs | prewritten / appended |")
    print("|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['logs']} | {row['appended_wall_us']:.0f} / {row['appended_cpu_us']:.0f} "
            f"| {row['prewritten_wall_us']:.0f} / {row['prewritten_cpu_us']:.0f} "
            f"| wall {row['wall_ratio']:.2f}, CPU {row['cpu_ratio']:.2f} |"
        )
    write_json(args.out, {"records": args.records, "size": args.size, "rounds": args.rounds, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
