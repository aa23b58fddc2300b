"""The whole evidence suite in one command: overhead and fairness, load, stateful fuzzing, the crash loop (100 kills),
power cuts (of spaces that fsync, and of spaces that sync within an interval), the fault harness, cold start, and the
HTML report of all of them. Sized to finish in under 15 minutes on a 2-core machine; ``--smoke`` runs every piece at
a tiny size in well under a minute, so CI keeps the harness itself from rotting.

    python bench/evidence.py [--smoke] [--results bench/results]

Each piece is its own script (bench/load.py, bench/fairness.py, bench/fuzz.py, bench/crash_loop.py,
bench/power_cut.py, bench/chaos.py, bench/cold_start.py, bench/report.py) run as a subprocess with the sizes below;
load, fairness and fuzzing share one server started here, the crash loop, the power cuts, the fault harness and cold
start start their own (they kill and restart theirs). A piece that fails is reported and the suite goes on, so the
report shows whatever was measured; the exit code is 1 if any piece failed. The power cuts need root and a loop
device: where there is none, that piece says so in the report and does not count as failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import serving  # noqa: E402
from bench.power_cut import UNAVAILABLE_EXIT  # noqa: E402
from engram.config import default_worker_count  # noqa: E402

BENCH = Path(__file__).resolve().parent

FULL = {
    "load": ["--spaces", "100", "--seconds", "15", "--concurrency", "4"],
    "fairness": [
        "--counts",
        "1,10,100,1000",
        "--seconds",
        "6",
        "--rounds",
        "16",
        "--middle-every",
        "2",
        "--concurrency",
        "4",
        "--noisy-rounds",
        "6",
    ],
    "fuzz": ["--sequences", "80", "--steps", "50"],
    "crash_loop": ["--kills", "100", "--spaces", "20", "--writers", "4"],
    "power_cut": ["--cuts", "20", "--spaces", "8", "--writers", "4"],
    "power_cut_interval": ["--cuts", "10", "--spaces", "8", "--writers", "4", "--durability", "interval"],
    "chaos": ["--faults", "18", "--spaces", "20", "--writers", "4"],  # each fault kind twice
    "cold_start": ["--big-spaces", "2", "--big-memories", "20000", "--small-spaces", "1000", "--probes", "20"],
}
SMOKE = {
    "load": ["--spaces", "3", "--seconds", "1", "--concurrency", "2"],
    "fairness": [
        "--counts",
        "1,2,10",
        "--seconds",
        "1",
        "--rounds",
        "2",
        "--middle-every",
        "2",
        "--concurrency",
        "2",
        "--quiet-spaces",
        "2",
        "--quiet-rate",
        "10",
        "--noisy-concurrency",
        "2",
        "--noisy-rounds",
        "1",
    ],
    "fuzz": ["--sequences", "3", "--steps", "10"],
    "crash_loop": ["--kills", "2", "--spaces", "4", "--writers", "2"],
    "power_cut": ["--cuts", "1", "--spaces", "2", "--writers", "2"],
    "power_cut_interval": ["--cuts", "1", "--spaces", "2", "--writers", "2", "--durability", "interval"],
    "chaos": ["--faults", "2", "--kinds", "worker,eio_fsync", "--spaces", "4", "--writers", "2"],
    # Only the small case: each case starts a server twice, and the smoke run must stay well under a minute.
    "cold_start": ["--big-spaces", "0", "--small-spaces", "10", "--small-memories", "2", "--probes", "3"],
}


SCRIPTS = {"power_cut_interval": "power_cut"}  # pieces that run another piece's script with other options
MAY_BE_UNAVAILABLE = ("power_cut", "power_cut_interval")  # need root and a loop device


def run_piece(name: str, args: list[str], results: Path, timings: dict[str, float]) -> bool:
    """Run bench/<script>.py (the piece's own name, or ``SCRIPTS``') with ``args`` and ``--out
    <results>/<name>.json``; True when it exited 0, or when the power cuts found no loop device to run on (their
    result says so, and the report shows it as not run)."""
    script = SCRIPTS.get(name, name)
    command = [sys.executable, str(BENCH / f"{script}.py"), *args, "--out", str(results / f"{name}.json")]
    print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    code = subprocess.call(command)
    timings[name] = round(time.monotonic() - started, 1)
    print(f"=== {name}: exit {code} after {timings[name]:.1f} s", flush=True)
    return code == 0 or (name in MAY_BE_UNAVAILABLE and code == UNAVAILABLE_EXIT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="every piece at a tiny size (seconds, for CI)")
    parser.add_argument("--results", default="bench/results", help="where the JSON results and report.html go")
    workers_help = "workers of the servers the suite starts (default: the server's)"
    parser.add_argument("--workers", type=int, default=default_worker_count(), help=workers_help)
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else FULL
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    failed = []
    started = time.monotonic()
    with serving(args.workers) as target:
        shared = ["--url", target.url, "--router", target.router]
        # Fairness first: the load piece's 100 spaces go idle and fall due for consolidation 300 s after it, and
        # their offloads and passes (snapshot children among them) landed in the overhead comparison's last
        # rounds, on whichever side ran then (rounds of 75-81% and of 122% at the end of three runs).
        for name in ("fairness", "load"):
            if not run_piece(name, [*sizes[name], *shared, "--workers", str(args.workers)], results, timings):
                failed.append(name)
        if not run_piece("fuzz", [*sizes["fuzz"], "--url", target.url], results, timings):
            failed.append("fuzz")
    for name in ("crash_loop", "power_cut", "power_cut_interval", "chaos", "cold_start"):
        if not run_piece(name, [*sizes[name], "--workers", str(args.workers)], results, timings):
            failed.append(name)
    report = [sys.executable, str(BENCH / "report.py"), "--results", str(results)]
    if subprocess.call(report) != 0:
        failed.append("report")
    total = time.monotonic() - started
    pieces = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
    print(f"\nevidence suite {'(smoke) ' if args.smoke else ''}done in {total:.0f} s ({pieces})")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
