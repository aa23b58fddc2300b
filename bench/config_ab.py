"""The many-spaces overhead comparison (bench/fairness.py) with one server setting at two or more values, their
servers alternating, so that a change's effect on the ratio is measured in one run and not across sessions of a
shared, noisy machine.

    python bench/config_ab.py --setting sync_overwrites --values false,true [--blocks 3] [--rounds 2]
                              [--counts 1,1000] [--seconds 6] [--concurrency 4] [--workers N]
                              [--out bench/results/config_ab.json]

Each block starts a server per value (in the given order, reversed in every other block), runs fairness.py's
``overhead`` on it and stops it. Values are TOML literals (``true``, ``0.5``, ``"fsync"``) written into the server's
configuration file beside ``index_seal_rows`` (no index builds, as in bench/load.py). Printed per value: the mean
throughput per count and the largest count against the smallest, as the median of all its rounds' ratios and as
the ratio of the means.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fairness import overhead  # noqa: E402
from bench.load import NO_INDEX_SEAL_ROWS, Target, write_json  # noqa: E402
from engram.config import default_worker_count  # noqa: E402
from engram.testing import RunningServer  # noqa: E402

DEFAULT_OUT = "bench/results/config_ab.json"


def measure(setting: str, value: str, counts: list[int], seconds: float, concurrency: int, rounds: int,
            workers: int) -> dict:  # fmt: skip
    """``overhead`` on a fresh server whose configuration sets ``setting = value``."""
    with tempfile.TemporaryDirectory(prefix="engram-ab-") as scratch:
        config = Path(scratch) / "ab.toml"
        config.write_text(f"index_seal_rows = {NO_INDEX_SEAL_ROWS}\n{setting} = {value}\n")
        with RunningServer(Path(scratch) / "data", workers, extra_args=["--config", str(config)]) as server:
            return overhead(Target(server.url, server.router), counts, seconds, concurrency, rounds, "rest")


def summary(runs: list[dict], counts: list[int]) -> dict:
    """One value's blocks together: mean throughput per count, and the largest count against the smallest."""
    per_count = {
        str(count): [run["throughput_per_s"] for block in runs for run in block["space_counts"][str(count)]["runs"]]
        for count in counts
    }
    smallest, largest = per_count[str(counts[0])], per_count[str(counts[-1])]
    ratios = [round(big / small, 4) for big, small in zip(largest, smallest, strict=True) if small]
    return {
        "throughput_per_s": {count: round(statistics.fmean(values), 1) for count, values in per_count.items()},
        "round_ratios": ratios,
        "ratio_median": round(statistics.median(ratios), 4),
        "ratio_of_means": round(statistics.fmean(largest) / statistics.fmean(smallest), 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setting", required=True, help="a key of the server configuration (docs/configuration.md)")
    parser.add_argument("--values", required=True, help="comma-separated TOML literals, e.g. false,true")
    parser.add_argument("--blocks", type=int, default=3, help="servers started per value")
    parser.add_argument("--rounds", type=int, default=2, help="overhead rounds per server")
    parser.add_argument("--counts", default="1,1000")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=default_worker_count())
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    values = [v.strip() for v in args.values.split(",") if v.strip()]
    counts = sorted({int(c) for c in args.counts.split(",") if c.strip()})
    runs: dict[str, list[dict]] = {value: [] for value in values}
    for block in range(args.blocks):
        for value in values if block % 2 == 0 else list(reversed(values)):
            print(f"\n=== block {block + 1}: {args.setting} = {value}", flush=True)
            runs[value].append(
                measure(args.setting, value, counts, args.seconds, args.concurrency, args.rounds, args.workers)
            )
    results = {value: summary(runs[value], counts) for value in values}
    print(f"\n| {args.setting} | " + " | ".join(f"{c} spaces/s" for c in counts) + " | ratio (median) | of means |")
    print("|---|" + "---|" * (len(counts) + 2))
    for value, row in results.items():
        figures = " | ".join(f"{row['throughput_per_s'][str(c)]:.0f}" for c in counts)
        print(f"| {value} | {figures} | {row['ratio_median']:.1%} | {row['ratio_of_means']:.1%} |")
    write_json(args.out, {"setting": args.setting, "counts": counts, "results": results, "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
