"""``engram bench load``: the load generator of bench/load.py as a subcommand, with the same options.

The benchmarks live in the source checkout (``bench/``), not in the installed package, so this command works from
a checkout (or an editable install of one); anywhere else it says where to get them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

EPILOG = """\
examples:
  engram bench load --spaces 1000 --seconds 30                 # a server of its own, 4 clients, REST
  engram bench load --spaces 100 --rate 500 --transport native --router tcp://127.0.0.1:7433
  engram bench load --url http://127.0.0.1:7432 --mix remember=1 --concurrency 16 --out load.json

See docs/testing/memory_spaces.md for what each figure means."""


LOAD_EXAMPLE = "example:\n  engram bench load --spaces 100 --concurrency 4 --seconds 10 --mix remember=70,recall=30"


def register(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser(
        "bench",
        help="run benchmarks (load generator) against a server",
        description="Run benchmarks: the load generator, against its own server or a running one.",
        epilog=LOAD_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = bench.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    # Options (and --help) are parsed by bench/load.py itself, imported only when the command runs, so that every
    # other command starts without importing numpy and the benchmark code.
    parser = kinds.add_parser(
        "load",
        help="many spaces, an operation mix, closed or open loop, REST or native; JSON results",
        description="Many spaces, an operation mix, closed or open loop, REST or native; JSON results "
        "(engram bench load --help lists every option).",
        epilog=LOAD_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
        prefix_chars="\0",
    )
    parser.add_argument("options", nargs=argparse.REMAINDER)
    parser.set_defaults(handler=_load)


def _load(args: argparse.Namespace) -> int:
    checkout = Path(__file__).resolve().parent.parent
    if not (checkout / "bench" / "load.py").exists():
        raise ValueError("engram bench needs a source checkout (its bench/ directory); run it from a clone of Engram")
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    load = importlib.import_module("bench.load")
    return load.main(args.options, prog="engram bench load", epilog=EPILOG)
