"""``engram space list|create|show|update|delete``: the registry of memory spaces on a running server."""

from __future__ import annotations

import argparse
import functools
import sys

from msgspec import UNSET

from engram import cli_archive, protocol
from engram.cli_output import fields, table, to_json, when
from engram.cli_target import add_action, resolve_target

_action = functools.partial(add_action, with_space=False)

EXIT_NOT_CONFIRMED = 1
EXIT_USAGE = 2
UNLIMITED = "none"

LIST_EXAMPLE = """\
examples:
  engram space list --json
  engram space list --include-deleted"""
CREATE_EXAMPLE = """\
examples:
  engram space create alpha              # the server's default dimension (768)
  engram space create embeddings --dim 384
  engram space create scratch --durability interval --max-memories 100000 --max-rps 50

Creating is create-or-get: it succeeds when the space exists already, unless --dim names another dimension
(DIMENSION_CONFLICT); an existing space keeps its policy (change it with 'engram space update'). A deleted space is
created again, empty. A space id is 3-64 characters from [a-z0-9_-]."""
SHOW_EXAMPLE = "example:\n  engram space show alpha"
UPDATE_EXAMPLE = f"""\
examples:
  engram space update alpha --durability interval --durability-interval-ms 100
  engram space update alpha --max-memories 1000000 --max-rps {UNLIMITED}

Only the options given change. '{UNLIMITED}' lifts a quota."""
DELETE_EXAMPLE = """\
examples:
  engram space delete scratch            # asks you to type the id to confirm
  engram space delete scratch --yes      # no question: for scripts

Every memory of the space is gone for good; its files are removed in the background. Until the id is created again
(empty) every request to it answers 410 MEMORY_SPACE_DELETED. Without --yes the command asks for confirmation on a
terminal, and refuses to run when there is no terminal to ask on."""

DURABILITY_HELP = (
    "fsync: acknowledged once on disk (default); interval: fsynced every --durability-interval-ms, may lose that "
    "window on power loss; none: survives a process crash, not a power loss (docs/durability.md)"
)


def register(commands: argparse._SubParsersAction) -> None:
    space = commands.add_parser(
        "space",
        help="list, create, inspect, update, delete, export and import memory spaces",
        description="List, create, inspect, update and delete the memory spaces of a running server.",
        epilog="examples:\n  engram space list\n  engram space create alpha --dim 384\n  engram space show alpha\n"
        "  engram space update alpha --max-memories 10000\n  engram space delete alpha --yes\n"
        "  engram space export alpha alpha.tar\n  engram space import alpha.tar --as alpha-copy",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = space.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = _action(actions, "list", "list every space with its dimension, state and policy", LIST_EXAMPLE)
    listing.add_argument("--include-deleted", action="store_true", help="list deleted spaces too")
    listing.set_defaults(handler=_list)

    create = _action(actions, "create", "create a space (or get it, if it exists)", CREATE_EXAMPLE)
    create.add_argument("id", metavar="ID", help="the new space's id, e.g. alpha or tenant-42")
    create.add_argument("--dim", type=int, help="embedding dimension (default: the server's, 768)")
    _add_policy_options(create, lift=False)
    create.set_defaults(handler=_create)

    show = _action(actions, "show", "show a space's dimension, policy, memory count and worker", SHOW_EXAMPLE)
    show.add_argument("id", metavar="ID", help="the space's id")
    show.set_defaults(handler=_show)

    update = _action(actions, "update", "change a space's durability policy or quotas", UPDATE_EXAMPLE)
    update.add_argument("id", metavar="ID", help="the space's id")
    _add_policy_options(update, lift=True)
    update.set_defaults(handler=_update)

    delete = _action(actions, "delete", "delete a space and every memory in it", DELETE_EXAMPLE)
    delete.add_argument("id", metavar="ID", help="the space's id")
    delete.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(handler=_delete)

    cli_archive.add_space_actions(actions)


def _add_policy_options(parser: argparse.ArgumentParser, *, lift: bool) -> None:
    """The policy options; for ``update`` an option left out keeps the space's value, and quotas take 'none'."""
    default = UNSET if lift else None
    suffix = f" ('{UNLIMITED}': no limit)" if lift else " (default: no limit)"
    group = parser.add_argument_group("policy")
    group.add_argument("--durability", choices=protocol.DURABILITY_POLICIES, default=default, help=DURABILITY_HELP)
    group.add_argument(
        "--durability-interval-ms",
        type=int,
        default=default,
        metavar="MS",
        help="with --durability interval: the longest time between fsyncs (default 50)",
    )
    group.add_argument(
        "--max-memories", type=_quota(int, lift), default=default, metavar="N", help="live memories at most" + suffix
    )
    group.add_argument(
        "--max-bytes", type=_quota(int, lift), default=default, metavar="N", help="stored bytes at most" + suffix
    )
    group.add_argument(
        "--max-rps", type=_quota(float, lift), default=default, metavar="R", help="requests per second" + suffix
    )


def _quota(parse, lift: bool):
    def convert(text: str):
        if lift and text.strip().lower() == UNLIMITED:
            return None
        return parse(text)

    convert.__name__ = parse.__name__  # argparse names the type in its error message
    return convert


def _policy_args(args: argparse.Namespace) -> dict:
    names = ("durability", "durability_interval_ms", "max_memories", "max_bytes", "max_rps")
    return {name: getattr(args, name) for name in names}


def _list(args: argparse.Namespace) -> int:
    with resolve_target(args).client() as client:
        spaces = client.list_spaces(include_deleted=args.include_deleted)
    if args.json:
        print(to_json(protocol.SpaceList(spaces)))
    elif not spaces:
        print("no memory spaces yet (a first write creates one, or: engram space create ID)")
    else:
        rows = [
            [s.id, str(s.dim), s.state, s.policy.durability, when(s.created_at), quotas_text(s.policy)] for s in spaces
        ]
        print(table(["ID", "DIM", "STATE", "DURABILITY", "CREATED", "QUOTAS"], rows, right=frozenset({1})))
    return 0


def _create(args: argparse.Namespace) -> int:
    with resolve_target(args).client() as client:
        created = client.create_space(args.id, dim=args.dim, **_policy_args(args))
    if args.json:
        print(to_json(created))
    else:
        verb = "created" if created.created else "already exists:"
        space = created.space
        print(f"{verb} space '{space.id}' (dim {space.dim}, {policy_text(space.policy)})")
    return 0


def _update(args: argparse.Namespace) -> int:
    with resolve_target(args).client() as client:
        updated = client.update_space(args.id, **_policy_args(args))
    if args.json:
        print(to_json(updated))
    else:
        print(f"updated space '{updated.id}': {policy_text(updated.policy)}")
    return 0


def _delete(args: argparse.Namespace) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            print(
                f"engram: refusing to delete space '{args.id}' without --yes: there is no terminal to confirm on",
                file=sys.stderr,
            )
            return EXIT_USAGE
        answer = input(f"Delete memory space '{args.id}' and every memory in it, for good? Type its id to confirm: ")
        if answer.strip() != args.id:
            print("not deleted", file=sys.stderr)
            return EXIT_NOT_CONFIRMED
    with resolve_target(args).client() as client:
        deleted = client.delete_space(args.id)
    if args.json:
        print(to_json(deleted))
    else:
        print(f"deleted space '{deleted.id}' (its files are removed in the background)")
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
                    ("state", detail.state),
                    ("memories", str(detail.memories)),
                    ("stored", f"about {detail.stored_bytes} bytes"),
                    ("durability", durability_text(detail.policy)),
                    ("quotas", quotas_text(detail.policy)),
                    ("worker", f"{detail.worker.id} (pid {detail.worker.pid})"),
                ]
            )
        )
    return 0


def durability_text(policy: protocol.SpacePolicy) -> str:
    if policy.durability == "interval":
        return f"interval ({policy.durability_interval_ms} ms)"
    return policy.durability


def quotas_text(policy: protocol.SpacePolicy) -> str:
    """The quotas that are set, e.g. ``memories<=1000 rps<=5``; ``none`` when there is no limit."""
    limits = [
        ("memories", policy.max_memories),
        ("bytes", policy.max_bytes),
        ("rps", None if policy.max_rps is None else f"{policy.max_rps:g}"),
    ]
    text = " ".join(f"{name}<={value}" for name, value in limits if value is not None)
    return text or UNLIMITED


def policy_text(policy: protocol.SpacePolicy) -> str:
    return f"durability {durability_text(policy)}, quotas: {quotas_text(policy)}"
