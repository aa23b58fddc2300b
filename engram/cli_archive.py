"""``engram space export|import|copy`` and ``engram memory migrate``: moving a space's data.

An export is the space's snapshot and log tail in a tar with a checksummed manifest (engram/archive.py); an import
is verified whole by the server before anything is created. ``memory migrate --from-default --to NEW`` is the
split of a legacy single-tenant deployment: the default space's memories move into NEW (export, import, verify the
count), then the default space is emptied (deleted and created again, same dimension) unless ``--keep-source``.
Both spaces keep the default space's policy: an import keeps the policy its archive's ``space.json`` records (the
one the worker last saw), and migrate sets the registry's on NEW with ``update_space`` too, then creates
``default`` again with its own.

``space copy`` is the offline path for a space too large for one archive: with the server stopped, it copies the
space's directory under a new id, renaming the id in every file that records it (router/space_copy.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engram.cli_output import to_json
from engram.cli_server import add_location_options
from engram.cli_target import add_action, resolve_target
from engram.config import load_config
from engram.protocol import SpacePolicy

EXPORT_EXAMPLE = "example:\n  engram space export alpha alpha.engram.tar"
IMPORT_EXAMPLE = "example:\n  engram space import alpha.engram.tar --as alpha-copy"
MIGRATE_EXAMPLE = "example:\n  engram memory migrate --from-default --to tenant-a"
COPY_EXAMPLE = "example (server stopped):\n  engram space copy alpha alpha-copy --data-dir /var/lib/engram"
EXIT_MIGRATION_MISMATCH = 1
EXIT_SERVER_RUNNING = 1


def add_space_actions(actions: argparse._SubParsersAction) -> None:
    export = add_action(actions, "export", "write a space to one archive file", EXPORT_EXAMPLE, with_space=False)
    export.add_argument("id", metavar="ID", help="the space to export")
    export.add_argument("file", metavar="FILE", help="where to write the archive ('-' for standard output)")
    export.set_defaults(handler=_export)

    restore = add_action(actions, "import", "create a space from an archive file", IMPORT_EXAMPLE, with_space=False)
    restore.add_argument("file", metavar="FILE", help="an archive written by 'engram space export' ('-': stdin)")
    restore.add_argument("--as", dest="as_space", metavar="NEW", required=True, help="the id of the new space")
    restore.set_defaults(handler=_import)

    copy = actions.add_parser(
        "copy",
        help="copy a space under a new id while the server is stopped (offline)",
        description="Copy a space's directory under a new id while the server is stopped, renaming the id in "
        "space.json and in every snapshot manifest, so the copy keeps every memory; also for spaces too large to "
        "export. Refuses to run while a server uses the data directory. The next start serves the copy.",
        epilog=COPY_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    copy.add_argument("id", metavar="ID", help="the space to copy")
    copy.add_argument("new", metavar="NEW", help="the id of the copy (must never have existed)")
    add_location_options(copy)
    copy.add_argument("--json", action="store_true", help="print the result as JSON")
    copy.set_defaults(handler=_copy)


def add_migrate_action(actions: argparse._SubParsersAction) -> None:
    migrate = add_action(
        actions, "migrate", "move the default space's memories into a new space", MIGRATE_EXAMPLE, with_space=False
    )
    migrate.add_argument(
        "--from-default", action="store_true", required=True, help="move from the default space (required)"
    )
    migrate.add_argument("--to", required=True, metavar="NEW", help="the new space (must not exist)")
    migrate.add_argument("--keep-source", action="store_true", help="copy only: leave the default space as it is")
    migrate.set_defaults(handler=_migrate)


def _export(args: argparse.Namespace) -> int:
    with resolve_target(args).client() as client:
        exported = client.export_space(args.id)
    if args.file == "-":
        sys.stdout.buffer.write(exported.archive)
        return 0
    Path(args.file).write_bytes(exported.archive)
    if args.json:
        print(to_json({"space": args.id, "file": args.file, "bytes": len(exported.archive),
                       "memories": exported.memories}))  # fmt: skip
    else:
        print(
            f"exported space '{args.id}' ({exported.memories} memories, {len(exported.archive)} bytes) to {args.file}"
        )
    return 0


def _import(args: argparse.Namespace) -> int:
    archive = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    with resolve_target(args).client() as client:
        created = client.import_space(archive, args.as_space)
        detail = client.get_space(args.as_space)
    if args.json:
        print(to_json(detail))
    else:
        print(f"imported space '{created.space.id}' (dim {created.space.dim}, {detail.memories} memories)")
    return 0


def _migrate(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    source = target.default_space
    with target.client() as client:
        policy = client.get_space(source).policy
        exported = client.export_space(source)
        client.import_space(exported.archive, args.to)
        client.update_space(args.to, **_policy_fields(policy))
        moved = client.get_space(args.to)
        if moved.memories != exported.memories:
            print(
                f"engram: migration check failed: '{args.to}' holds {moved.memories} memories, the export of "
                f"'{source}' held {exported.memories}; '{source}' was left untouched",
                file=sys.stderr,
            )
            return EXIT_MIGRATION_MISMATCH
        if not args.keep_source:
            client.delete_space(source)
            given = {name: value for name, value in _policy_fields(policy).items() if value is not None}
            recreated = client.create_space(source, dim=moved.dim, **given)
            if recreated.space.policy != policy:  # a quota the server's default sets and the old default lifted
                client.update_space(source, **_policy_fields(policy))
    if args.json:
        print(
            to_json({"from": source, "to": args.to, "memories": moved.memories, "source_emptied": not args.keep_source})
        )
    else:
        what = "copied" if args.keep_source else "moved"
        print(f"{what} {moved.memories} memories from '{source}' to '{args.to}'")
    return 0


def _policy_fields(policy: SpacePolicy) -> dict:
    """Every field of ``policy``, as ``update_space`` takes them (a quota of None lifts it)."""
    return {name: getattr(policy, name) for name in policy.__struct_fields__}


def _copy(args: argparse.Namespace) -> int:
    from router.space_copy import ServerRunning, copy_space  # offline work on the data root: the router's files

    config = load_config(args.config, {"data_root": args.data_root})
    try:
        copied = copy_space(Path(config.data_root), args.id, args.new)
    except ServerRunning as exc:
        print(f"engram: cannot copy: {exc}", file=sys.stderr)
        return EXIT_SERVER_RUNNING
    if args.json:
        print(to_json({"space": copied.source, "new": copied.new, "directory": str(copied.directory),
                       "files": copied.files, "bytes": copied.bytes}))  # fmt: skip
    else:
        print(
            f"copied space '{copied.source}' to '{copied.new}' ({copied.files} files, {copied.bytes} bytes) in "
            f"{copied.directory.parent}; the next start serves it"
        )
    return 0
