"""What the worker loop's periodic upkeep costs with many spaces loaded, in one process (no server).

    python bench/upkeep_scan.py [--spaces 1000] [--used 0,10,100,1000] [--repeats 20]
                                [--out bench/results/upkeep_scan.json]

Between batches the loop checks, once a second, which spaces are due for a snapshot (``_keep_storage``), a
consolidation pass (``_consolidate_due``) or offloading, and four times a second which are due for an index build
(``Compactor.tick``). All of it holds every space of the worker. These checks look only at the spaces requests used
since the previous check: a space nothing used cannot have become due. The table shows one round of the checks
(all three) against how many of the loaded spaces were used since the last round: with all of them used it is what
every round cost before, when every loaded space was looked at each time.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import write_json  # noqa: E402
from engram import protocol as p  # noqa: E402
from engram.config import Config  # noqa: E402
from engram.testing import free_port  # noqa: E402
from workers.compaction import Compactor  # noqa: E402
from workers.loop import WorkerLoop  # noqa: E402

DEFAULT_OUT = "bench/results/upkeep_scan.json"
DIM = 64


def remember(loop: WorkerLoop, space: str, number: int) -> None:
    """One remember through the loop, as the router would forward it (the space is created on the first)."""
    header = p.Header(p.PROTOCOL_VERSION, number, "remember", space)
    placement = p.Placement(True, DIM, 1.0, fresh=number == 0)
    body = p.Remember([p.MemoryIn(f"{space} noted fact {number} about the harbour")])
    loop._handle_batch([[b"t", p.ENCODER.encode(header), p.ENCODER.encode(body), p.ENCODER.encode(placement)]])


def one_round(loop: WorkerLoop, compactor: Compactor) -> float:
    """The checks of one upkeep round, as the loop runs them; seconds."""
    started = time.perf_counter()
    loop._keep_storage(time.monotonic())
    loop._consolidate_due(time.time(), time.monotonic() + 1.0)
    touched, loop._touched = loop._touched, {}
    compactor._next_check = 0.0  # due now
    compactor.tick(loop._spaces, readable=False, touched=touched)
    return time.perf_counter() - started


def measure(spaces: int, used_counts: list[int], repeats: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="engram-upkeep-") as scratch:
        loop = WorkerLoop(0, "tcp://127.0.0.1:1", Config(data_root=scratch))
        names = [f"space-{number:05d}" for number in range(spaces)]
        for name in names:
            remember(loop, name, 0)
        context = zmq.Context()
        compactor = Compactor(context, f"tcp://127.0.0.1:{free_port()}", loop._index_seal_rows)  # no builder
        try:
            one_round(loop, compactor)  # every space was just used: the first round looks at all of them
            for used in used_counts:
                samples = []
                for repeat in range(repeats):
                    for name in names[:used]:
                        remember(loop, name, repeat + 1)
                    samples.append(one_round(loop, compactor))
                rows.append(
                    {
                        "spaces_loaded": spaces,
                        "used_since_last_round": used,
                        "round_ms_median": round(statistics.median(samples) * 1000, 3),
                        "round_ms_max": round(max(samples) * 1000, 3),
                    }
                )
        finally:
            compactor.close()
            context.destroy(linger=0)
            loop._close_all()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", type=int, default=1000)
    parser.add_argument("--used", default="0,10,100,1000", help="spaces used between two rounds, per measurement")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    used_counts = [min(int(u), args.spaces) for u in args.used.split(",") if u.strip()]
    logging.disable(logging.WARNING)  # every new space logs that it starts empty
    try:
        rows = measure(args.spaces, used_counts, args.repeats)
    finally:
        logging.disable(logging.NOTSET)
    print("| spaces loaded | used since the last round | one round of checks, median ms | max ms |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['spaces_loaded']} | {row['used_since_last_round']} | {row['round_ms_median']} "
              f"| {row['round_ms_max']} |")  # fmt: skip
    write_json(args.out, {"rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
