"""``engram status``: what each memory space holds and how its worker is doing, measured by the running server.

One table per server: a row per space (state, live memories, pressure, write-ahead log lag, consolidation backlog,
owning worker, and the rate the router paces it to while it takes the CPU from other spaces), then the workers
(pid, alive, ready, spaces, restarts). A space whose pressure is above ``PRESSURE_WARNING`` is marked with "!",
since recall's activation is scaled down as pressure grows.
"""

from __future__ import annotations

import argparse

from engram import protocol
from engram.cli_output import table, to_json
from engram.cli_target import add_client_options, resolve_target

PRESSURE_WARNING = 0.8
HIGH_PRESSURE_MARK = "!"
NOT_MEASURED = "-"

EPILOG = f"""\
examples:
  engram status                          # every space and every worker
  engram status --space alpha            # one space, loaded by its worker so its figures are exact
  engram status --json

States: loaded (measured now), offloaded (on disk, not in memory: not measured), unavailable (its worker is down or
did not answer in time). A space whose pressure is over {PRESSURE_WARNING:g} is marked '{HIGH_PRESSURE_MARK}'."""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "status",
        help="show each space's memories, pressure, log lag and backlog, and each worker",
        description="Show the measured status of every memory space (or of one, with --space) and of every worker.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_client_options(parser, with_space=False)
    parser.add_argument("--space", metavar="SPACE", help="report only this space (default: every space)")
    parser.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    with target.client() as client:
        result = client.status(space=args.space)
    print(to_json(result) if args.json else render(result))
    return 0


def render(result: protocol.SystemStatus) -> str:
    """The spaces table, then the workers table."""
    spaces = [
        (
            space.space,
            space.state,
            _figure(space.memories),
            _pressure(space.pressure),
            _figure(None if space.wal_lag_ms is None else f"{space.wal_lag_ms:.0f} ms"),
            _figure(space.consolidation_backlog),
            str(space.worker),
            NOT_MEASURED if space.paced_rps is None else f"{space.paced_rps:.0f}/s",
        )
        for space in result.spaces
    ]
    headers = ("SPACE", "STATE", "MEMORIES", "PRESSURE", "WAL LAG", "BACKLOG", "WORKER", "PACED")
    right = frozenset({2, 3, 4, 5, 6, 7})
    first = table(headers, spaces, right=right, fit=False) if spaces else "no memory spaces yet"
    workers = [
        (str(w.id), _figure(w.pid), _yes(w.alive), _yes(w.ready), str(w.spaces), str(w.restarts))
        for w in result.workers
    ]
    second = table(
        ("WORKER", "PID", "ALIVE", "READY", "SPACES", "RESTARTS"), workers, right=frozenset({0, 1, 4, 5}), fit=False
    )
    return f"status: {result.status}\n\n{first}\n\n{second}"


def _figure(value: object) -> str:
    return NOT_MEASURED if value is None else str(value)


def _pressure(value: float | None) -> str:
    if value is None:
        return NOT_MEASURED
    return f"{value:.2f}" + (f" {HIGH_PRESSURE_MARK}" if value > PRESSURE_WARNING else "")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
