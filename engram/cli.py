"""The ``engram`` command. ``engram --help`` and ``engram COMMAND --help`` are the manual."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from engram.config import ENV_VARS, load_config
from engram.supervisor import StartupError, Supervisor, read_pid_file

STOP_WAIT_S = 15.0


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file")
    parser.add_argument("--data-dir", dest="data_root", metavar="DIR", help="data root (default ./engram-data)")


def build_parser() -> argparse.ArgumentParser:
    env_help = ", ".join(ENV_VARS)
    parser = argparse.ArgumentParser(
        prog="engram",
        description="Engram: a multi-tenant memory server for AI agents.",
        epilog=f"Environment variables ({env_help}) override the config file; flags override both.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    start = commands.add_parser(
        "start",
        help="run the server in the foreground",
        description="Start the router, the workers and the HTTP API; print one line once /health answers; "
        "stop everything cleanly on Ctrl-C or SIGTERM.",
    )
    _server_options(start)
    start.add_argument("--host", help="HTTP bind address (default 127.0.0.1)")
    start.add_argument("--port", type=int, help="HTTP port (default 7432)")
    start.add_argument("--router", metavar="ENDPOINT", help="native protocol endpoint (default tcp://127.0.0.1:7433)")
    start.add_argument("--workers", type=int, help="worker processes (default: one per CPU)")
    start.add_argument(
        "--require-explicit-space",
        action="store_const",
        const=True,
        help="answer 400 MISSING_MEMORY_SPACE instead of falling back to the default space",
    )
    start.set_defaults(handler=_start)

    stop = commands.add_parser(
        "stop",
        help="stop the server running on a data directory",
        description="Stop a server started by "
        "'engram start' on the same data directory, waiting until it has flushed and exited.",
    )
    _server_options(stop)
    stop.set_defaults(handler=_stop)
    return parser


def _start(args: argparse.Namespace) -> int:
    overrides = {
        "data_root": args.data_root,
        "host": args.host,
        "port": args.port,
        "router": args.router,
        "workers": args.workers,
        "require_explicit_space": args.require_explicit_space,
    }
    config = load_config(args.config, overrides)
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
        if not _running(pid):
            print(f"engram: stopped the server at {info['url']}")
            return 0
        time.sleep(0.1)
    print(f"engram: the server (pid {pid}) did not stop within {STOP_WAIT_S:.0f} s", file=sys.stderr)
    return 1


def _running(pid: int) -> bool:
    """True while ``pid`` runs; an exited process its parent has not reaped yet (a zombie) counts as stopped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ValueError as exc:
        print(f"engram: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
