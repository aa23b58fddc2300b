"""How long a worker stops for a snapshot's fork, by the number of spaces it holds, in one process (no server).

    python bench/fork_pause.py [--spaces 1,100,500,1000,2000] [--rows 10] [--dim 384] [--forks 9]
                               [--out bench/results/fork_pause.json]

A background snapshot forks the worker (workers/background_snapshot.py), and ``fork`` returns only once the page
tables of the parent's populated memory are copied: every space of the worker waits that long. Each space keeps its
columns in a reservation of its own (workers/columns.py), so each one adds page-table pages to copy. This builds N
spaces' columns of R rows each and times ``fork`` (the parent's side, which is the pause) with the reservations left
out of forks, as the worker does, and with all of them inherited, as before. The figure is the median of the forks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workers.columns import Columns  # noqa: E402

DEFAULT_OUT = "bench/results/fork_pause.json"


def build(spaces: int, rows: int, dim: int) -> list[Columns]:
    rng = np.random.default_rng(1)
    built = []
    for space in range(spaces):
        columns = Columns(dim)
        for row in range(rows):
            unit = rng.standard_normal(dim).astype(np.float32)
            columns.append(f"m{space}-{row}", "text", unit, 1.0, False, 1.0, 0.0, 0.0, row + 1)
        built.append(columns)
    return built


def fork_ms(forks: int) -> float:
    """Median time for ``fork`` to return in the parent; the child leaves at once."""
    pauses = []
    for _ in range(forks):
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        pauses.append((time.perf_counter() - started) * 1000.0)
        os.waitpid(pid, 0)
    return statistics.median(pauses)


def measure(columns: list[Columns], forks: int) -> dict:
    hidden = fork_ms(forks)
    with contextlib.ExitStack() as stack:
        for space in columns:
            stack.enter_context(space.inherited_by_fork())
        inherited = fork_ms(forks)
    return {"hidden_ms": round(hidden, 2), "inherited_ms": round(inherited, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", default="1,100,500,1000,2000", help="comma-separated space counts")
    parser.add_argument("--rows", type=int, default=10, help="memories per space")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--forks", type=int, default=9, help="forks timed per figure (the median is kept)")
    parser.add_argument("--out", type=Path, default=Path(DEFAULT_OUT))
    args = parser.parse_args(argv)
    counts = sorted(int(count) for count in args.spaces.split(","))
    held: list[Columns] = []
    results = []
    print("| spaces held | fork pause, columns left out (ms) | fork pause, columns inherited (ms) |")
    print("|---|---|---|")
    for count in counts:
        held += build(count - len(held), args.rows, args.dim)
        row = {"spaces": count, **measure(held, args.forks)}
        results.append(row)
        print(f"| {count} | {row['hidden_ms']:.2f} | {row['inherited_ms']:.2f} |", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": args.rows, "dim": args.dim, "forks": args.forks, "results": results}))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
