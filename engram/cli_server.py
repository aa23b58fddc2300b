"""``engram start`` and ``engram stop``: run a server in the foreground, and stop the one on a data directory.

The server options are defined here once; ``engram config show`` takes the same ones, so it reports exactly the
configuration ``engram start`` would run with.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

from engram.cli_target import process_running
from engram.config import load_config
from engram.supervisor import StartupError, Supervisor, read_pid_file

STOP_WAIT_S = 15.0
STOP_POLL_INTERVAL_S = 0.1

FLAG_OF_FIELD: dict[str, str] = {
    "data_root": "--data-dir",
    "host": "--host",
    "port": "--port",
    "router": "--router",
    "events": "--events",
    "workers": "--workers",
    "require_explicit_space": "--require-explicit-space",
}
"""Each Config field a server flag sets, and that flag."""


def add_location_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file")
    parser.add_argument("--data-dir", dest="data_root", metavar="DIR", help="data root (default ./engram-data)")


def add_server_options(parser: argparse.ArgumentParser) -> None:
    add_location_options(parser)
    parser.add_argument("--host", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (default 7432)")
    parser.add_argument("--router", metavar="ENDPOINT", help="native protocol endpoint (default tcp://127.0.0.1:7433)")
    parser.add_argument(
        "--events", metavar="ENDPOINT", help="events channel endpoint, for subscribers (default tcp://127.0.0.1:7434)"
    )
    parser.add_argument("--workers", type=int, help="worker processes (default: one per CPU less one, at least 1)")
    parser.add_argument(
        "--require-explicit-space",
        action="store_const",
        const=True,
        help="answer 400 MISSING_MEMORY_SPACE instead of falling back to the default space",
    )


def server_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The Config fields the server flags set (None for a flag not given)."""
    return {field: getattr(args, field) for field in FLAG_OF_FIELD}


def register(commands: argparse._SubParsersAction) -> None:
    start = commands.add_parser(
        "start",
        help="run the server in the foreground",
        description="Start the router, the workers and the HTTP API; print one line once /health answers; "
        "stop everything cleanly on Ctrl-C or SIGTERM.",
        epilog="example:\n  engram start --data-dir ./engram-data --port 7432 --workers 4",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_server_options(start)
    start.set_defaults(handler=_start)

    stop = commands.add_parser(
        "stop",
        help="stop the server running on a data directory",
        description="Stop a server started by 'engram start' on the same data directory, waiting until it has "
        "flushed and exited.",
        epilog="example:\n  engram stop --data-dir ./engram-data",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_location_options(stop)
    stop.set_defaults(handler=_stop)


def _start(args: argparse.Namespace) -> int:
    config = load_config(args.config, server_overrides(args))
    try:
        return Supervisor(config).run()
    except StartupError as exc:
        print(f"engram: cannot start: {exc}", file=sys.stderr)
        return 1


def _stop(args: argparse.Namespace) -> int:
    config = load_config(args.config, {"data_root": args.data_root})
    info = read_pid_file(config.data_root)
    if info is None:
        print(f"engram: no server is running on {config.data_root}", file=sys.stderr)
        return 1
    pid = int(info["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        print(f"engram: the server (pid {pid}) is already gone", file=sys.stderr)
        return 1
    deadline = time.monotonic() + STOP_WAIT_S
    while time.monotonic() < deadline:
        if not process_running(pid):
            print(f"engram: stopped the server at {info['url']}")
            return 0
        time.sleep(STOP_POLL_INTERVAL_S)
    print(f"engram: the server (pid {pid}) did not stop within {STOP_WAIT_S:.0f} s", file=sys.stderr)
    return 1
