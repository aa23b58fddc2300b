"""How long the worker's loop stops while it offloads spaces that went idle together, in one process (no server).

    python bench/offload_pause.py [--spaces 50] [--memories 700] [--dim 384] [--out bench/results/offload_pause.json]

A worker offloads a space nobody used for ``idle_offload_s`` (workers/residency.py), and a space whose log tail is
at least ``OFFLOAD_SNAPSHOT_MIN_BYTES`` is snapshotted first, so that its next open loads the snapshot. Spaces used
by one burst of agents go idle together. Everything the loop does between batches holds every space of the worker,
so the figure is the longest single pass of the loop's storage upkeep (``WorkerLoop._keep_storage``) until all are
offloaded, beside the same spaces offloaded the old way, each snapshotted in the loop (``WorkerLoop._offload``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engram import protocol as p  # noqa: E402
from engram.config import Config  # noqa: E402
from workers.loop import OFFLOAD_SNAPSHOT_MIN_BYTES, UPKEEP_RECHECK_S, WorkerLoop  # noqa: E402

DEFAULT_OUT = "bench/results/offload_pause.json"
IDLE_OFFLOAD_S = 1.0


def build(root: Path, spaces: int, memories: int, dim: int) -> WorkerLoop:
    """A worker loop holding ``spaces`` spaces of ``memories`` memories each, written in batches of 20."""
    loop = WorkerLoop(0, "tcp://127.0.0.1:1", Config(data_root=str(root), idle_offload_s=IDLE_OFFLOAD_S))
    request_id = 0
    for number in range(spaces):
        space = f"idle-{number:04d}"
        for first in range(0, memories, 20):
            request_id += 1
            batch = [p.MemoryIn(f"{space} noted fact {i} about the harbour") for i in range(first, first + 20)]
            header = p.Header(p.PROTOCOL_VERSION, request_id, "remember", space)
            placement = p.Placement(True, dim, 1.0, fresh=first == 0)
            frames = [b"t", p.ENCODER.encode(header), p.ENCODER.encode(p.Remember(batch)), p.ENCODER.encode(placement)]
            loop._handle_batch([frames])
    return loop


def offload_in_the_loop(loop: WorkerLoop) -> dict:
    """The old way: every idle space offloaded in one pass, each snapshotted in the loop."""
    started = time.perf_counter()
    offloaded = loop._residency.to_offload(time.monotonic() + 10 * IDLE_OFFLOAD_S)
    for space_id in offloaded:
        loop._offload(space_id)
    pause = time.perf_counter() - started
    return {"longest_pause_ms": round(pause * 1000, 2), "passes": 1, "all_offloaded_s": round(pause, 3)}


def offload_with_children(loop: WorkerLoop) -> dict:
    """The loop's way: passes of its storage upkeep, ``UPKEEP_RECHECK_S`` apart as in the worker while spaces wait
    for their snapshot child (the loop serves batches in between)."""
    started = time.perf_counter()
    pauses = []
    while loop._spaces:
        pass_started = time.perf_counter()
        loop._keep_storage(time.monotonic() + 10 * IDLE_OFFLOAD_S)
        pauses.append(time.perf_counter() - pass_started)
        time.sleep(UPKEEP_RECHECK_S)
    return {
        "longest_pause_ms": round(max(pauses) * 1000, 2),
        "passes": len(pauses),
        "all_offloaded_s": round(time.perf_counter() - started, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", type=int, default=50, help="spaces that go idle together")
    parser.add_argument("--memories", type=int, default=700, help="memories per space (700: a tail above 1 MiB)")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--out", type=Path, default=Path(DEFAULT_OUT))
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)
    results = {}
    for way, offload in (("in the loop", offload_in_the_loop), ("child snapshots first", offload_with_children)):
        with tempfile.TemporaryDirectory(prefix="engram-offload-") as scratch:
            loop = build(Path(scratch), args.spaces, args.memories, args.dim)
            tail = min(space.wal_bytes_since_snapshot for space in loop._spaces.values())
            results[way] = {**offload(loop), "tail_bytes": tail}
            loop._close_all()
    print(f"{args.spaces} idle spaces of {args.memories} memories (dim {args.dim}); snapshot first when the tail is "
          f">= {OFFLOAD_SNAPSHOT_MIN_BYTES} bytes")  # fmt: skip
    print("| offload | longest loop pause (ms) | passes | all offloaded after (s) |")
    print("|---|---|---|---|")
    for way, row in results.items():
        print(f"| {way} | {row['longest_pause_ms']:.1f} | {row['passes']} | {row['all_offloaded_s']:.2f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"spaces": args.spaces, "memories": args.memories, "dim": args.dim, **results}))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
