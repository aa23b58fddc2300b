"""``python -m router``: the router process of one Engram server (started by ``engram start``)."""

from __future__ import annotations

import fcntl
import logging
import os
import sys
from pathlib import Path

from engram import trash
from engram.config import Config, config_from_env
from engram.errors import EngramError
from engram.gc_freeze import freeze_startup_objects
from engram.ids import validate_space_id
from engram.logs import setup_logging
from engram.protocol import SpacePolicy
from router.broker import Broker
from router.legacy import wrap_legacy_layout
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
    wrap_legacy_layout(root, config.default_space, config.default_dim)  # before the registry adopts directories
    registry = Registry(root)
    registry.load()
    log.info("registry loaded: %d space(s) in %s", len(registry), root)
    unpurged = finish_purges(registry, root)
    try:
        bootstrap_spaces(registry, config)
    except EngramError as error:
        log.error("bootstrap_spaces: %s %s", error.message, error.hint)
        return 2
    try:
        broker = Broker(config, registry, unpurged)
    except Exception as exc:  # noqa: BLE001 - report a bind failure plainly, then exit non-zero
        log.error("cannot start router on %s: %s", config.router, exc)
        return 2
    freeze_startup_objects()
    broker.run()
    return 0


def bootstrap_spaces(registry: Registry, config: Config) -> None:
    """Create the configured ``bootstrap_spaces`` that were never created, before the server reports ready. A
    bootstrap space an operator deleted stays deleted: creating it again is an explicit decision."""
    policy = SpacePolicy(durability=config.default_durability)
    for raw in config.bootstrap_spaces:
        space = validate_space_id(raw, source="bootstrap_spaces in the configuration")
        entry = registry.get(space)
        if entry is None:
            registry.create(space, config.default_dim, policy)
            log.info("bootstrap space %s created", space)
        elif entry.deleted:
            log.warning("bootstrap space %s is deleted; create it again explicitly if it is still wanted", space)


def finish_purges(registry: Registry, root: Path) -> set[str]:
    """Finish what a crash interrupted between a delete's tombstone and its purge, before any worker starts (so
    no worker can open a deleted space's data): move the directory of every deleted space still on disk into the
    trash, then empty the trash in a background thread (a big trash never delays the start). Returns the deleted
    spaces whose directory could not be moved: the broker has their worker purge them before they are recreated."""
    left: set[str] = set()
    for entry in registry.deleted_entries():
        try:
            moved = trash.move_to_trash(root, entry.id)
        except OSError:
            log.exception("cannot move deleted space %s to the trash; its worker retries", entry.id)
            left.add(entry.id)
            continue
        if moved is not None:
            log.warning("deleted space %s was still on disk (interrupted purge); purging it now", entry.id)
    trash.empty_in_background(root)
    return left


if __name__ == "__main__":
    sys.exit(main())
