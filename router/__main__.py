"""``python -m router``: the router process of one Engram server (started by ``engram start``)."""

from __future__ import annotations

import fcntl
import logging
import os
import sys
from pathlib import Path

from engram.config import config_from_env
from engram.logs import setup_logging
from router.broker import Broker
from router.registry import Registry

LOCK_FILE = "engram.lock"
log = logging.getLogger("router")


def main() -> int:
    setup_logging("router")
    config = config_from_env()
    root = Path(config.data_root)
    root.mkdir(parents=True, exist_ok=True)
    lock = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.error("data directory %s is in use by another Engram server", root)
        return 3
    registry = Registry(root)
    registry.load()
    log.info("registry loaded: %d space(s) in %s", len(registry), root)
    try:
        broker = Broker(config, registry)
    except Exception as exc:  # noqa: BLE001 - report a bind failure plainly, then exit non-zero
        log.error("cannot start router on %s: %s", config.router, exc)
        return 2
    broker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
