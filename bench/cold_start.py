"""Cold start: time from ``engram start`` to the first successful recall in spaces that were filled before a restart.

    python bench/cold_start.py [--big-spaces 5] [--big-memories 100000] [--dim 128]
                               [--small-spaces 10000] [--small-memories 5] [--probes 20]
                               [--out bench/results/cold_start.json]

Two cases, each on its own data directory, seeded through the native client, then stopped (SIGTERM) and started
again:

- **big**: a few spaces of many memories each (client embeddings, clustered). After the restart each space is
  recalled once, in turn: the figure is the time from launching ``engram start`` to that space's first answer, and
  the time that one first recall took (the space's load: snapshot in, log tail replayed).
- **small**: many small spaces. After the restart a random sample of them is recalled: ready time plus the first
  recall of each sampled space, since startup loads only the registry and each space is loaded on first use.

Seeding uses batch remembers (one fsync per batch) with index builds off, so the bench measures loading rather
than the builder's one-off JIT; ``--index`` turns builds on (segments are then loaded, not rebuilt, on restart).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engram.client import Client, memory_in  # noqa: E402
from engram.config import default_worker_count  # noqa: E402
from engram.testing import RunningServer  # noqa: E402

BATCH = 1000
NO_INDEX_SEAL_ROWS = 10_000_000


def _server(data: Path, config: Path, workers: int) -> RunningServer:
    return RunningServer(data, workers, extra_args=["--config", str(config)])


def seed_big(client: Client, spaces: list[str], memories: int, dim: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(256, dim)).astype(np.float32)
    for space in spaces:
        client.create_space(space, dim=dim)
        for start in range(0, memories, BATCH):
            count = min(BATCH, memories - start)
            vectors = centres[rng.integers(0, len(centres), count)] + 0.1 * rng.normal(size=(count, dim))
            batch = [
                memory_in(f"{space} memory {start + i}", id=f"m{start + i}", embedding=vectors[i].astype(np.float32))
                for i in range(count)
            ]
            client.remember_batch(batch, space=space)


def seed_small(client: Client, spaces: list[str], memories: int) -> None:
    for space in spaces:
        batch = [memory_in(f"{space} note {i} about the harbor", id=f"n{i}") for i in range(memories)]
        client.remember_batch(batch, space=space)


def first_recalls(server: RunningServer, launched: float, spaces: list[str], query) -> list[dict]:
    rows = []
    with Client(server.router) as client:
        for space in spaces:
            started = time.monotonic()
            result = query(client, space)
            done = time.monotonic()
            if not result.hits:
                raise RuntimeError(f"first recall in {space} found nothing")
            rows.append({"space": space, "since_start_s": done - launched, "recall_s": done - started})
    return rows


def run_big(root: Path, config: Path, args: argparse.Namespace) -> dict:
    spaces = [f"big-{i}" for i in range(args.big_spaces)]
    data = root / "big"
    probe = np.random.default_rng(99).normal(size=args.dim).astype(np.float32)
    with _server(data, config, args.workers) as server, Client(server.router) as client:
        started = time.monotonic()
        seed_big(client, spaces, args.big_memories, args.dim, args.seed)
        seed_s = time.monotonic() - started
    server = _server(data, config, args.workers)
    launched = time.monotonic()
    with server:
        ready_s = time.monotonic() - launched
        rows = first_recalls(
            server, launched, spaces, lambda c, s: c.recall(embedding=probe, threshold=0.0, max_results=10, space=s)
        )
    return {"seed_s": seed_s, "ready_s": ready_s, "spaces": rows}


def run_small(root: Path, config: Path, args: argparse.Namespace) -> dict:
    spaces = [f"small-{i:05d}" for i in range(args.small_spaces)]
    data = root / "small"
    with _server(data, config, args.workers) as server, Client(server.router) as client:
        started = time.monotonic()
        seed_small(client, spaces, args.small_memories)
        seed_s = time.monotonic() - started
    sample = random.Random(args.seed).sample(spaces, min(args.probes, len(spaces)))
    server = _server(data, config, args.workers)
    launched = time.monotonic()
    with server:
        ready_s = time.monotonic() - launched
        rows = first_recalls(server, launched, sample, lambda c, s: c.recall("harbor note", threshold=0.0, space=s))
    return {"seed_s": seed_s, "ready_s": ready_s, "spaces": rows}


def _print(name: str, result: dict) -> None:
    recalls = [row["recall_s"] * 1000 for row in result["spaces"]]
    print(f"\n## {name}: seeded in {result['seed_s']:.1f} s; ready {result['ready_s']:.2f} s after `engram start`")
    print("| space | first recall done, s after start | that recall, ms |\n|---|---|---|")
    for row in result["spaces"][:10]:
        print(f"| {row['space']} | {row['since_start_s']:.2f} | {row['recall_s'] * 1000:.1f} |")
    if len(recalls) > 10:
        print(f"| ... {len(recalls)} spaces | | p50 {statistics.median(recalls):.1f}, max {max(recalls):.1f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big-spaces", type=int, default=5)
    parser.add_argument("--big-memories", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--small-spaces", type=int, default=10_000)
    parser.add_argument("--small-memories", type=int, default=5)
    parser.add_argument("--probes", type=int, default=20, help="small spaces recalled after the restart")
    parser.add_argument("--workers", type=int, default=default_worker_count())
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--index", action="store_true", help="let index builds run while seeding")
    parser.add_argument("--out", default="bench/results/cold_start.json")
    args = parser.parse_args()

    results = {}
    with tempfile.TemporaryDirectory(prefix="engram-cold-") as scratch:
        root = Path(scratch)
        config = root / "cold.toml"
        config.write_text("" if args.index else f"[workers]\nindex_seal_rows = {NO_INDEX_SEAL_ROWS}\n")
        if args.big_spaces:
            results["big"] = run_big(root, config, args)
            _print(f"{args.big_spaces} spaces x {args.big_memories} memories (dim {args.dim})", results["big"])
        if args.small_spaces:
            results["small"] = run_small(root, config, args)
            _print(f"{args.small_spaces} spaces x {args.small_memories} memories", results["small"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"config": vars(args), "results": results}, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
