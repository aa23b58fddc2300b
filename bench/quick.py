"""Quick end-to-end figures through REST: remember and recall with 1 space and with 100 spaces, beside GET /health
(HTTP + router round trip, no worker) as the floor of the stack, all measured in one run on one server.

    python bench/quick.py [--seconds 5] [--concurrency 4] [--workers N] [--out bench/results/quick.json]

Compare the ratios, not the absolute numbers: the load generator shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.httpload import LoadResult, run_load  # noqa: E402
from engram.testing import RunningServer  # noqa: E402

WORDS = ["river", "mountain", "forest", "ocean", "desert", "valley"] + [
    "glacier",
    "canyon",
    "meadow",
    "island",
    "harbor",
]


def _content(client: int, sequence: int) -> str:
    a, b, c = (WORDS[(client * 7 + sequence * k) % len(WORDS)] for k in (1, 3, 5))
    return f"agent {client} saw the {a} near the {b} and the {c} on step {sequence}"


def scenarios(spaces: int):
    def space(client: int, sequence: int) -> str:
        return f"bench-{(client * 9973 + sequence) % spaces}"

    def remember(client: int, sequence: int):
        return "POST", f"/api/v1/spaces/{space(client, sequence)}/memories", {"content": _content(client, sequence)}

    def recall(client: int, sequence: int):
        query = f"{WORDS[sequence % len(WORDS)]} {WORDS[(sequence * 5) % len(WORDS)]}"
        return "POST", f"/api/v1/spaces/{space(client, sequence)}/recall", {"query": query, "max_results": 10}

    return remember, recall


def health(_client: int, _sequence: int):
    return "GET", "/health", None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each measurement")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent keep-alive HTTP clients")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="server worker processes")
    parser.add_argument("--out", default="bench/results/quick.json", help="where to write the JSON results")
    args = parser.parse_args()

    results: list[LoadResult] = []
    with (
        tempfile.TemporaryDirectory(prefix="engram-quick-") as data_dir,
        RunningServer(Path(data_dir), workers=args.workers) as server,
    ):
        results.append(run_load(server.url, "GET /health (floor)", health, args.concurrency, args.seconds))
        for spaces in (1, 100):
            remember, recall = scenarios(spaces)
            label = "1 space" if spaces == 1 else f"{spaces} spaces"
            results.append(run_load(server.url, f"remember, {label}", remember, args.concurrency, args.seconds))
            results.append(run_load(server.url, f"recall, {label}", recall, args.concurrency, args.seconds))
    _print_table(results, args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    config = {"seconds": args.seconds, "concurrency": args.concurrency, "workers": args.workers}
    out.write_text(json.dumps({"config": config, "results": [r.summary() for r in results]}, indent=2))
    print(f"\nwrote {out}")
    return 0 if all(not r.errors for r in results) else 1


def _print_table(results: list[LoadResult], args: argparse.Namespace) -> None:
    floor = results[0].throughput or 1.0
    print(f"\nEngram quick benchmark: {args.concurrency} clients, {args.seconds:g} s each, {args.workers} workers\n")
    print(f"{'scenario':<24} {'ok':>7} {'req/s':>9} {'vs floor':>9} {'p50 ms':>8} {'p99 ms':>8}  errors")
    for r in results:
        errors = ", ".join(f"{k}: {v}" for k, v in r.errors.items()) or "-"
        print(
            f"{r.name:<24} {r.ok:>7} {r.throughput:>9.0f} {r.throughput / floor:>8.0%} "
            f"{r.percentile(50):>8.2f} {r.percentile(99):>8.2f}  {errors}"
        )


if __name__ == "__main__":
    sys.exit(main())
