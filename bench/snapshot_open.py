"""Opening a space from a snapshot versus replaying its whole log, in one process (no server).

    python bench/snapshot_open.py [--memories 100000] [--dim 128] [--runs 3] [--out bench/results/snapshot_open.json]

Builds a space of N memories (about 16 words of text each, a client embedding, two tags, one metadata entry, and
an association edge per 10 memories), closes it, then times ``Space.open`` with a full replay, takes a snapshot
(timed), and times ``Space.open`` again from the snapshot. Also times the content index (lexicon) rebuilt by
tokenizing every memory against loading it from the snapshot, which is why snapshots store it. The OS page cache
is warm in every run (the files were just written): these are CPU costs, not disk reads.
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

from engram.embedder import tokenize  # noqa: E402
from engram.protocol import MemoryIn  # noqa: E402
from workers.background_snapshot import BackgroundSnapshots  # noqa: E402
from workers.lexicon import Lexicon  # noqa: E402
from workers.space import Space  # noqa: E402
from workers.wal import segments  # noqa: E402

NOW = 1_700_000_000.0
VOCABULARY = 20_000
BATCH = 1000


def build(root: Path, memories: int, dim: int) -> None:
    rng = np.random.default_rng(1)
    words = random.Random(1)
    vocabulary = [f"word{i}" for i in range(VOCABULARY)]
    weights = [1.0 / (i + 1) for i in range(VOCABULARY)]  # Zipf-like, as in real text
    space, _ = Space.open(root, "bench", dim, NOW)
    for start in range(0, memories, BATCH):
        vectors = rng.standard_normal((BATCH, dim)).astype("<f4")
        batch = [
            MemoryIn(
                " ".join(words.choices(vocabulary, weights, k=15)) + f" item{start + i}",
                id=f"m{start + i}",
                embedding=vectors[i].tobytes(),
                tags=["bench", f"t{i % 10}"],
                metadata={"source": "bench"},
            )
            for i in range(min(BATCH, memories - start))
        ]
        space.remember(batch, NOW)
        for i in range(start, start + len(batch) - 1, 10):
            space.associate(f"m{i}", f"m{i + 1}", 0.5, NOW)
        space.sync()
    space.close()


def time_background_snapshot(space: Space, dim: int) -> tuple[float, float]:
    """The same snapshot as the worker's loop takes it (workers/background_snapshot.py): how long the loop is held
    (cutting the log and forking), and how long the child takes to write it."""
    vector = np.ones(dim, dtype="<f4").tobytes()
    space.remember([MemoryIn("one more after the first snapshot", id="extra", embedding=vector)], NOW)
    snapshots = BackgroundSnapshots()
    started = time.perf_counter()
    snapshots.start("bench", space)
    held = time.perf_counter() - started
    snapshots.wait("bench")
    written = time.perf_counter() - started
    assert space.wal_bytes_since_snapshot == 0, "the background snapshot failed (see the log)"
    return held, written


def time_open(root: Path, runs: int) -> tuple[list[float], Space]:
    times = []
    space = None
    for _ in range(runs):
        if space is not None:
            space.close()
        started = time.perf_counter()
        space, _ = Space.open(root, "bench", 0, NOW)
        times.append(time.perf_counter() - started)
    assert space is not None
    return times, space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        build(root, args.memories, args.dim)
        print(f"built {args.memories} memories (dim {args.dim}) in {time.perf_counter() - started:.1f} s")
        wal_bytes = sum(p.stat().st_size for p in segments(root / "bench" / "wal"))

        replay_s, space = time_open(root, args.runs)
        assert space.count == args.memories and space.recovery.snapshot is None
        report = space.snapshot()
        contents = [space._columns.content[row] for row in range(space._columns.rows)]
        space.close()
        snapshot_s, space = time_open(root, args.runs)
        assert space.count == args.memories and space.recovery.snapshot == report.generation
        fork_s, child_s = time_background_snapshot(space, args.dim)
        space.close()

        started = time.perf_counter()
        lexicon = Lexicon()
        for row, text in enumerate(contents):
            lexicon.add(row, set(tokenize(text)))
        rebuild_s = time.perf_counter() - started
        tokens, counts, rows = lexicon.export(np.arange(len(contents)))
        started = time.perf_counter()
        Lexicon.restore(tokens, counts, rows)
        restore_s = time.perf_counter() - started

    result = {
        "memories": args.memories,
        "dim": args.dim,
        "wal_bytes": wal_bytes,
        "snapshot_bytes": report.bytes,
        "snapshot_write_s": round(report.elapsed_s, 3),
        "background_snapshot_loop_held_s": round(fork_s, 4),
        "background_snapshot_child_s": round(child_s, 3),
        "open_full_replay_s": [round(t, 3) for t in replay_s],
        "open_from_snapshot_s": [round(t, 3) for t in snapshot_s],
        "lexicon_rebuild_s": round(rebuild_s, 3),
        "lexicon_load_s": round(restore_s, 3),
    }
    print(json.dumps(result, indent=2))
    print(
        f"snapshot: {report.elapsed_s:.2f} s written in the loop; in the background the loop is held "
        f"{fork_s * 1000:.1f} ms (cut and fork) while the child writes it in {child_s:.2f} s"
    )
    print(
        f"open: full replay {statistics.median(replay_s):.2f} s, from snapshot {statistics.median(snapshot_s):.2f} s "
        f"({statistics.median(replay_s) / statistics.median(snapshot_s):.1f}x)"
    )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
