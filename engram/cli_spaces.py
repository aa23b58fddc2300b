"""``engram space list|create|show``: the registry of memory spaces on a running server."""

from __future__ import annotations

import argparse
import functools

from engram import protocol
from engram.cli_output import fields, table, to_json, when
from engram.cli_target import add_action, resolve_target

_action = functools.partial(add_action, with_space=False)

LIST_EXAMPLE = "example:\n  engram space list --json"
CREATE_EXAMPLE = """\
examples:
  engram space create alpha              # the server's default dimension (768)
  engram space create embeddings --dim 384

Creating is create-or-get: it succeeds when the space exists already, unless --dim names another dimension
(DIMENSION_CONFLICT). A space id is 3-64 characters from [a-z0-9_-]."""
SHOW_EXAMPLE = "example:\n  engram space show alpha"


def register(commands: argparse._SubParsersAction) -> None:
    space = commands.add_parser(
        "space",
        help="list, create and inspect memory spaces",
        description="List, create and inspect the memory spaces of a running server.",
        epilog="examples:\n  engram space list\n  engram space create alpha --dim 384\n  engram space show alpha",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = space.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = _action(actions, "list", "list every space with its dimension and state", LIST_EXAMPLE)
    listing.set_defaults(handler=_list)

    create = _action(actions, "create", "create a space (or get it, if it exists)", CREATE_EXAMPLE)
    create.add_argument("id", metavar="ID", help="the new space's id, e.g. alpha or tenant-42")
    create.add_argument("--dim", type=int, help="embedding dimension (default: the server's, 768)")
    create.set_defaults(handler=_create)

    show = _action(actions, "show", "show a space's dimension, memory count and worker", SHOW_EXAMPLE)
    show.add_argument("id", metavar="ID", help="the space's id")
    show.set_defaults(handler=_show)


def _list(args: argparse.Namespace) -> int:
    with resolve_target(args).client() as client:
        spaces = client.list_spaces()
    if args.json:
        print(to_json(protocol.SpaceList(spaces)))
    elif not spaces:
        print("no memory spaces yet (a first write creates one, or: engram space create ID)")
    else:
        rows = [[s.id, str(s.dim), s.state, when(s.created_at)] for s in spaces]
        print(table(["ID", "DIM", "STATE", "CREATED"], rows, right=frozenset({1})))
    return 0


def _create(args: argparse.Namespace) -> int:
    with resolve_target(args).client() as client:
        created = client.create_space(args.id, dim=args.dim)
    if args.json:
        print(to_json(created))
    else:
        verb = "created" if created.created else "already exists:"
        print(f"{verb} space '{created.space.id}' (dim {created.space.dim})")
    return 0


def _show(args: argparse.Namespace) -> int:
    with resolve_target(args).client() as client:
        detail = client.get_space(args.id)
    if args.json:
        print(to_json(detail))
    else:
        print(
            fields(
                [
                    ("id", detail.id),
                    ("dim", str(detail.dim)),
                    ("created", when(detail.created_at)),
                    ("memories", str(detail.memories)),
                    ("worker", f"{detail.worker.id} (pid {detail.worker.pid})"),
                ]
            )
        )
    return 0
