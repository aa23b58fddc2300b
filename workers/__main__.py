"""``python -m workers --id N --backend ENDPOINT [--builder ENDPOINT] [--events ENDPOINT]``: one worker process,
started and supervised by the router."""

from __future__ import annotations

import argparse
import sys

from engram.config import config_from_env
from engram.gc_freeze import freeze_startup_objects
from engram.logs import setup_logging
from workers.loop import WorkerLoop


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m workers")
    parser.add_argument("--id", type=int, required=True, help="worker slot number")
    parser.add_argument("--backend", required=True, help="the router's backend endpoint")
    parser.add_argument("--builder", help="the index builder's endpoint (without it, search stays exact)")
    parser.add_argument("--events", help="the router's endpoint for published events (without it, none are sent)")
    args = parser.parse_args()
    setup_logging(f"worker{args.id}")
    loop = WorkerLoop(args.id, args.backend, config_from_env(), args.builder, args.events)
    freeze_startup_objects()
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
