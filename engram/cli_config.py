"""``engram config show``: the configuration ``engram start`` would run with, and where each value came from.

Layers, each overriding the one before: built-in defaults, the TOML file (``--config``), ``ENGRAM_*`` environment
variables, then flags. Knowing which layer set a value is most of debugging a configuration.
"""

from __future__ import annotations

import argparse
import json
import sys

from engram.cli_output import table
from engram.cli_server import FLAG_OF_FIELD, add_server_options, server_overrides
from engram.config import ENV_VARS, ResolvedConfig, Source, resolve_config

EXAMPLES = """\
examples:
  engram config show
  engram config show --config engram.toml --port 9000
  ENGRAM_WORKERS=4 engram config show --json

config file sections map onto the settings: [server] port = 7432, [memory_spaces] default_space = "alpha", ..."""


def register(commands: argparse._SubParsersAction) -> None:
    config = commands.add_parser(
        "config",
        help="inspect the configuration",
        description="Inspect the configuration the server resolves from defaults, file, environment and flags.",
        epilog="example:\n  engram config show --config engram.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser(
        "show",
        help="print the effective configuration and the source of each value",
        description="Print every setting 'engram start' would use with the same --config, environment and flags, "
        "with its source: default, file (with its path), env (with the variable) or flag. "
        f"Environment variables: {', '.join(ENV_VARS)}.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_server_options(show)
    show.add_argument("--json", action="store_true", help="print {setting: {value, source, origin}} as JSON")
    show.set_defaults(handler=_show)


def _show(args: argparse.Namespace) -> int:
    resolved = resolve_config(args.config, server_overrides(args))
    if args.json:
        print(json.dumps(as_json(resolved), indent=2))
    else:
        rows = [[name, _text(value), describe(resolved, name)] for name, value in _settings(resolved)]
        print(table(["SETTING", "VALUE", "SOURCE"], rows, fit=False))  # paths cut short are useless
    if resolved.unknown:
        print(f"engram: ignored unknown config keys: {', '.join(sorted(resolved.unknown))}", file=sys.stderr)
    return 0


def as_json(resolved: ResolvedConfig) -> dict[str, dict[str, object]]:
    return {
        name: {"value": value, "source": resolved.sources[name].value, "origin": _origin(resolved, name)}
        for name, value in _settings(resolved)
    }


def describe(resolved: ResolvedConfig, name: str) -> str:
    """The source as a person reads it: ``default``, ``file engram.toml``, ``env ENGRAM_PORT``, ``flag --port``."""
    source, origin = resolved.sources[name], _origin(resolved, name)
    return f"{source.value} {origin}" if origin else source.value


def _origin(resolved: ResolvedConfig, name: str) -> str:
    if resolved.sources[name] is Source.FLAG:
        return FLAG_OF_FIELD.get(name, "")
    return resolved.origins[name]


def _settings(resolved: ResolvedConfig) -> list[tuple[str, object]]:
    config = resolved.config
    return [(name, getattr(config, name)) for name in config.__struct_fields__]


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
