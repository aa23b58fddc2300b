"""Which server and which memory space a client command of ``engram`` addresses.

The router endpoint: ``--router``, else the router of the server running on the data directory (from its pid file,
if that process is alive), else the configured ``router`` (config file, ``ENGRAM_ROUTER``, default
tcp://127.0.0.1:7433). The space: ``--space``, else ``ENGRAM_MEMORY_SPACE``, else the configured ``default_space``.
The command always sends the space it resolved, so it never depends on the server's default-space fallback (and keeps
working against a server that requires explicit spaces). The original CLI sent its space in a header the server
never read; here the space travels in the protocol header every worker reads.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engram.config import load_config
from engram.supervisor import read_pid_file

if TYPE_CHECKING:  # the client pulls in numpy and zmq: `engram start` should not pay for them
    from engram.client import Client

SPACE_ENV = "ENGRAM_MEMORY_SPACE"
DEFAULT_CLI_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Target:
    router: str
    space: str | None
    timeout_s: float
    default_space: str = "default"  # the server configuration's, for commands about the default space itself

    def client(self) -> Client:
        from engram.client import Client

        return Client(self.router, timeout_s=self.timeout_s, space=self.space)


def add_action(
    actions: argparse._SubParsersAction, name: str, summary: str, epilog: str, *, with_space: bool
) -> argparse.ArgumentParser:
    """A subcommand whose --help states its summary as a sentence and ends with a worked example."""
    parser = actions.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_client_options(parser, with_space=with_space)
    return parser


def add_client_options(parser: argparse.ArgumentParser, *, with_space: bool) -> None:
    """The options every command that talks to a running server takes, listed apart from the command's own."""
    group = parser.add_argument_group("server and output")
    if with_space:
        group.add_argument(
            "--space",
            metavar="SPACE",
            help=f"memory space to use (default: ${SPACE_ENV}, else the config's default_space, 'default')",
        )
    group.add_argument(
        "--router",
        metavar="ENDPOINT",
        help="native endpoint of the server (default: that of the server running on --data-dir, else the "
        "config's router, tcp://127.0.0.1:7433)",
    )
    group.add_argument("--json", action="store_true", help="print the result as JSON (the native protocol's shape)")
    group.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_CLI_TIMEOUT_S,
        metavar="SECONDS",
        help=f"give up when the server has not answered in this time (default {DEFAULT_CLI_TIMEOUT_S:g})",
    )
    group.add_argument("--data-dir", dest="data_root", metavar="DIR", help="data directory of the running server")
    group.add_argument("--config", metavar="FILE", help="TOML configuration file")


def resolve_target(args: argparse.Namespace) -> Target:
    config = load_config(args.config, {"data_root": args.data_root})
    router = choose_router(args.router, running_router(config.data_root), config.router)
    space = choose_space(getattr(args, "space", None), os.environ.get(SPACE_ENV), config.default_space)
    return Target(router, space, args.timeout, config.default_space)


def choose_router(flag: str | None, running: str | None, configured: str) -> str:
    """The flag wins; then the server actually running on the data directory; then the configuration."""
    if flag is not None:
        return flag
    return running if running is not None else configured


def choose_space(flag: str | None, env: str | None, configured: str) -> str:
    """The flag wins (even a bad one: the server says what is wrong with it); an empty variable counts as unset."""
    if flag is not None:
        return flag
    return env if env else configured


def running_router(data_root: str) -> str | None:
    """The router endpoint of the server running on ``data_root``, or None (no pid file, or its process is gone)."""
    info = read_pid_file(data_root)
    if info is None or not process_running(int(info.get("pid", 0))):
        return None
    router = info.get("router")
    return router if isinstance(router, str) else None


def process_running(pid: int) -> bool:
    """True while ``pid`` runs; an exited process its parent has not reaped yet (a zombie) counts as stopped."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
