"""Quick end-to-end figures, all measured in one run on one server: remember and recall through REST with 1 space and
with 100 spaces, the same through the native client (one remember per message, a batch of 100 per message, recall),
and the floors of both stacks: GET /health (HTTP + router round trip, no worker) and the native ping (router only).

    python bench/quick.py [--seconds 5] [--concurrency 4] [--workers N] [--out bench/results/quick.json]

Compare the ratios, not the absolute numbers: the load generator shares the machine's cores with the server.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.httpload import LoadResult, run_load  # noqa: E402
from bench.nativeload import run_native_load  # noqa: E402
from engram.client import Client, memory_in  # noqa: E402
from engram.config import default_worker_count  # noqa: E402
from engram.testing import RunningServer  # noqa: E402

BATCH_MEMORIES = 100
NO_INDEX_SEAL_ROWS = 10_000_000
WORDS = ["river", "mountain", "forest", "ocean", "desert", "valley"] + [
    "glacier",
    "canyon",
    "meadow",
    "island",
    "harbor",
]


@dataclass
class Row:
    """One measurement; ``memories_per_call`` is set for writes, so their rate is reported in memories too."""

    result: LoadResult
    memories_per_call: int = 0

    @property
    def memories_per_s(self) -> float | None:
        return self.result.throughput * self.memories_per_call if self.memories_per_call else None

    def summary(self) -> dict:
        summary = self.result.summary()
        if self.memories_per_s is not None:
            summary["memories_per_s"] = round(self.memories_per_s, 1)
        return summary


def _content(client: int, sequence: int) -> str:
    a, b, c = (WORDS[(client * 7 + sequence * k) % len(WORDS)] for k in (1, 3, 5))
    return f"agent {client} saw the {a} near the {b} and the {c} on step {sequence}"


def _query(sequence: int) -> str:
    return f"{WORDS[sequence % len(WORDS)]} {WORDS[(sequence * 5) % len(WORDS)]}"


def scenarios(spaces: int):
    def space(client: int, sequence: int) -> str:
        return f"bench-{(client * 9973 + sequence) % spaces}"

    def remember(client: int, sequence: int):
        return "POST", f"/api/v1/spaces/{space(client, sequence)}/memories", {"content": _content(client, sequence)}

    def recall(client: int, sequence: int):
        return (
            "POST",
            f"/api/v1/spaces/{space(client, sequence)}/recall",
            {"query": _query(sequence), "max_results": 10},
        )

    return remember, recall


def health(_client: int, _sequence: int):
    return "GET", "/health", None


def native_ping(client: Client, _number: int, _sequence: int) -> object:
    return client.ping()


def native_remember(client: Client, number: int, sequence: int) -> object:
    return client.remember(_content(number, sequence), space="native-single")


def native_batch(client: Client, number: int, sequence: int) -> object:
    first = sequence * BATCH_MEMORIES
    batch = [memory_in(_content(number, first + i)) for i in range(BATCH_MEMORIES)]
    return client.remember_batch(batch, space="native-batch")


def native_recall(client: Client, _number: int, sequence: int) -> object:
    # The space the REST 1-space rows wrote and recalled, so both recall rows search the same memories.
    return client.recall(_query(sequence), max_results=10, space="bench-0")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each measurement")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent clients (HTTP connections, threads)")
    parser.add_argument("--workers", type=int, default=default_worker_count(), help="server worker processes")
    parser.add_argument("--out", default="bench/results/quick.json", help="where to write the JSON results")
    args = parser.parse_args()

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="engram-quick-") as scratch:
        # No index builds during the run: a space crossing the seal size would start the builder's one-off numba
        # compile (tens of seconds of CPU) in the middle of a measurement. bench/recall_quality.py measures the index.
        config = Path(scratch) / "quick.toml"
        config.write_text(f"[workers]\nindex_seal_rows = {NO_INDEX_SEAL_ROWS}\n")
        _measure(Path(scratch) / "data", config, args, rows)

    _print_table(rows, args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "workers": args.workers,
        "index_seal_rows": NO_INDEX_SEAL_ROWS,
    }
    out.write_text(json.dumps({"config": settings, "results": [row.summary() for row in rows]}, indent=2))
    print(f"\nwrote {out}")
    return 0 if all(not row.result.errors for row in rows) else 1


def _print_table(rows: list[Row], args: argparse.Namespace) -> None:
    floor = rows[0].result.throughput or 1.0
    print(f"\nEngram quick benchmark: {args.concurrency} clients, {args.seconds:g} s each, {args.workers} workers\n")
    header = f"{'scenario':<30} {'ok':>7} {'req/s':>9} {'memories/s':>11} {'vs floor':>9} {'p50 ms':>8} {'p99 ms':>8}"
    print(f"{header}  errors")
    for row in rows:
        r = row.result
        errors = ", ".join(f"{k}: {v}" for k, v in r.errors.items()) or "-"
        memories = "-" if row.memories_per_s is None else f"{row.memories_per_s:.0f}"
        print(
            f"{r.name:<30} {r.ok:>7} {r.throughput:>9.0f} {memories:>11} {r.throughput / floor:>8.0%} "
            f"{r.percentile(50):>8.2f} {r.percentile(99):>8.2f}  {errors}"
        )


def _measure(data_dir: Path, config: Path, args: argparse.Namespace, rows: list[Row]) -> None:
    c, s = args.concurrency, args.seconds
    with (
        RunningServer(data_dir, workers=args.workers, extra_args=["--config", str(config)]) as server,
        Client(server.router) as client,
    ):
        rows.append(Row(run_load(server.url, "GET /health (floor)", health, c, s)))
        rows.append(Row(run_native_load(client, "native ping (floor)", native_ping, c, s)))
        remember, recall = scenarios(1)
        rows.append(Row(run_load(server.url, "remember, 1 space", remember, c, s), 1))
        rows.append(Row(run_native_load(client, "native remember, 1 space", native_remember, c, s), 1))
        batch_name = f"native batch x{BATCH_MEMORIES}, 1 space"
        rows.append(Row(run_native_load(client, batch_name, native_batch, c, s), BATCH_MEMORIES))
        rows.append(Row(run_load(server.url, "recall, 1 space", recall, c, s)))
        rows.append(Row(run_native_load(client, "native recall, 1 space", native_recall, c, s)))
        remember, recall = scenarios(100)
        rows.append(Row(run_load(server.url, "remember, 100 spaces", remember, c, s), 1))
        rows.append(Row(run_load(server.url, "recall, 100 spaces", recall, c, s)))


if __name__ == "__main__":
    sys.exit(main())
