"""The ``engram`` command. ``engram --help`` and ``engram COMMAND --help`` are the manual.

Commands live in one module per group: ``cli_server`` (start, stop), ``cli_spaces`` (space ...), ``cli_memory``
(memory ...), ``cli_status`` (status) and ``cli_config`` (config show). Every failure ends here: a server error prints
``engram: CODE: message (hint)`` to stderr and exits 1; a bad configuration exits 2, like a usage error.
"""

from __future__ import annotations

import argparse
import sys

from engram import cli_bench, cli_config, cli_memory, cli_server, cli_spaces, cli_status
from engram.cli_target import SPACE_ENV
from engram.config import ENV_VARS
from engram.errors import EngramError

EXIT_SERVER_ERROR = 1
EXIT_USAGE = 2

EPILOG = f"""\
examples:
  engram start                                   # a server on ./engram-data, HTTP 7432, native 7433
  engram space create alpha
  engram memory remember "The mitochondria is the powerhouse of the cell" --space alpha
  engram memory recall mitochondria --space alpha
  engram status                                  # memories, pressure and log lag per space; workers
  engram config show

Run 'engram COMMAND --help' (e.g. 'engram memory recall --help') for each command's options.
Environment variables ({", ".join(ENV_VARS)}) override the config file; flags override both.
{SPACE_ENV} names the space of memory commands that do not pass --space."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="engram",
        description="Engram: a multi-tenant memory server for AI agents, and a client for it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cli_server.register(commands)
    cli_spaces.register(commands)
    cli_memory.register(commands)
    cli_status.register(commands)
    cli_config.register(commands)
    cli_bench.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except EngramError as error:
        print(f"engram: {describe_error(error)}", file=sys.stderr)
        return EXIT_SERVER_ERROR
    except ValueError as exc:
        print(f"engram: {exc}", file=sys.stderr)
        return EXIT_USAGE


def describe_error(error: EngramError) -> str:
    """``CODE: message (hint)``, the hint left out when there is none."""
    hint = f" ({error.hint})" if error.hint else ""
    return f"{error.code.value}: {error.message}{hint}"


if __name__ == "__main__":
    sys.exit(main())
