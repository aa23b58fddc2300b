"""What extending logs ahead in idle time takes off the request path of young spaces, in one process (no server).

    python bench/log_prepare.py [--spaces 1000] [--records 40] [--dim 768] [--rounds 2] [--dir DIR]
                                [--out bench/results/log_prepare.json]

``--spaces`` new spaces are written round robin, ``--records`` remembers each, every remember followed by the
batch sync the worker gives a batch of one (workers/durability.py). With ``prepare`` on, each sync is followed by
``Space.prepare_log``, as the worker does when no request waits (workers/loop.py, ``_prepare_logs``), and its time
is counted apart as idle-time work, with the extensions it made. Modes alternate over ``--rounds``. The figures per
remember: the request path's mean, p50 and p99 (remember plus sync), and the idle-time work. Run it on the disk of
the data root (``--dir``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import write_json  # noqa: E402
from engram.protocol import MemoryIn  # noqa: E402
from workers.durability import BatchSync  # noqa: E402
from workers.space import Space  # noqa: E402

DEFAULT_OUT = "bench/results/log_prepare.json"


def run(directory: Path, spaces: int, records: int, dim: int, prepare: bool) -> dict:
    """One pass over new spaces; per-remember figures in µs."""
    root = Path(tempfile.mkdtemp(prefix="log-prepare-", dir=directory))
    try:
        now = time.time()
        opened = {f"bench{n:05d}": Space.open(root, f"bench{n:05d}", dim, now)[0] for n in range(spaces)}
        batch = BatchSync(root)
        request_s: list[float] = []
        idle_s = 0.0
        extended = 0
        for record in range(records):
            for name, space in opened.items():
                started = time.perf_counter()
                space.remember([MemoryIn(f"{name} saw the tower beside the river at step {record}")], now)
                if batch.sync({name: space}):
                    raise OSError(f"sync of {name} failed")
                synced = time.perf_counter()
                request_s.append(synced - started)
                if prepare:
                    extended += space.prepare_log()
                    idle_s += time.perf_counter() - synced
        for space in opened.values():
            space.close()
        batch.close()
    finally:
        shutil.rmtree(root)
    request_s.sort()
    return {
        "mean_us": round(statistics.fmean(request_s) * 1e6, 1),
        "p50_us": round(request_s[len(request_s) // 2] * 1e6, 1),
        "p99_us": round(request_s[int(len(request_s) * 0.99)] * 1e6, 1),
        "idle_us": round(idle_s / len(request_s) * 1e6, 1),
        "extended_in_idle_time": extended,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", type=int, default=1000)
    parser.add_argument("--records", type=int, default=40, help="remembers per space")
    parser.add_argument("--dim", type=int, default=768, help="embedding dimension of the spaces")
    parser.add_argument("--rounds", type=int, default=2, help="passes per mode, the modes alternating")
    parser.add_argument("--dir", default=".", help="where the scratch spaces go: the data root's disk")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    rows = []
    for number in range(args.rounds):
        for prepare in (False, True) if number % 2 == 0 else (True, False):
            row = {"round": number + 1, "prepare": prepare}
            row.update(run(Path(args.dir), args.spaces, args.records, args.dim, prepare))
            rows.append(row)
    print("\n| round | prepare | request path mean µs | p50 µs | p99 µs | idle-time work µs | extensions then |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['round']} | {'on' if row['prepare'] else 'off'} | {row['mean_us']:.0f} | {row['p50_us']:.0f} "
            f"| {row['p99_us']:.0f} | {row['idle_us']:.0f} | {row['extended_in_idle_time']} |"
        )
    config = {key: getattr(args, key) for key in ("spaces", "records", "dim", "rounds")}
    write_json(args.out, {"config": config, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
