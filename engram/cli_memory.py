"""``engram memory remember|recall|list|get|delete|search``: one memory space's memories on a running server.

Every command addresses exactly one space (``--space``, else ``ENGRAM_MEMORY_SPACE``, else the configured
``default_space``; see engram/cli_target.py) and reads or writes nothing in any other.
"""

from __future__ import annotations

import argparse
import functools
import sys

import msgspec

from engram import cli_archive, protocol
from engram.cli_output import fields, number, table, to_json, when
from engram.cli_target import add_action, resolve_target

_action = functools.partial(add_action, with_space=True)

_EMBEDDING = msgspec.json.Decoder(list[float])

REMEMBER_EXAMPLE = """\
examples:
  engram memory remember "The mitochondria is the powerhouse of the cell" --space biology --tag cell
  engram memory remember "Standup moved to 10:00" --id standup-time --confidence 0.9
  git log -1 --format=%B | engram memory remember - --space repo-notes

Re-using an --id replaces that memory. A space that does not exist yet is created."""
RECALL_EXAMPLE = """\
examples:
  engram memory recall mitochondria --space biology
  engram memory recall "where is the standup" --max-results 3 --mode similarity --json
  engram memory recall --embedding '[0.9, 0.1, 0, 0]' --space vectors"""
LIST_EXAMPLE = """\
examples:
  engram memory list --space biology
  engram memory list --space biology --offset 100 --limit 100 --tag cell"""
GET_EXAMPLE = "example:\n  engram memory get mem_1a2b3c4d --space biology"
DELETE_EXAMPLE = "example:\n  engram memory delete mem_1a2b3c4d --space biology"
SEARCH_EXAMPLE = "example:\n  engram memory search powerhouse --space biology --limit 5"


def register(commands: argparse._SubParsersAction) -> None:
    memory = commands.add_parser(
        "memory",
        help="remember, recall, list, get, delete and search memories",
        description="Work with the memories of one memory space on a running server.",
        epilog='examples:\n  engram memory remember "Paris is the capital of France" --space geo\n'
        "  engram memory recall capital --space geo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = memory.add_subparsers(dest="action", required=True, metavar="ACTION")

    remember = _action(
        actions, "remember", "remember one memory (durable once this command succeeds)", REMEMBER_EXAMPLE
    )
    remember.add_argument("text", metavar="TEXT", help="what to remember ('-' reads it from standard input)")
    remember.add_argument("--id", help="the memory's id (default: a new mem_xxxxxxxx)")
    remember.add_argument("--confidence", type=float, default=0.7, help="confidence from 0 to 1 (default 0.7)")
    remember.add_argument("--tag", action="append", default=[], metavar="TAG", help="a tag (repeat for more)")
    remember.set_defaults(handler=_remember)

    recall = _action(actions, "recall", "recall the memories most like a query, best first", RECALL_EXAMPLE)
    recall.add_argument("query", nargs="?", metavar="QUERY", help="text to recall by")
    recall.add_argument("--embedding", type=_embedding_arg, metavar="JSON", help="recall by a JSON array vector")
    recall.add_argument("--max-results", type=int, default=10, metavar="N", help="at most N memories (default 10)")
    recall.add_argument("--threshold", type=float, default=0.5, help="lowest similarity to return (default 0.5)")
    recall.add_argument("--mode", choices=protocol.RECALL_MODES, default="hybrid", help="how to rank (default hybrid)")
    recall.set_defaults(handler=_recall)

    listing = _action(actions, "list", "list the space's memories, a page at a time", LIST_EXAMPLE)
    listing.add_argument("--offset", type=int, default=0, help="skip this many memories (default 0)")
    listing.add_argument("--limit", type=int, default=100, help="at most this many memories (default 100)")
    listing.add_argument("--tag", action="append", default=[], metavar="TAG", help="only memories with this tag")
    listing.set_defaults(handler=_list)

    get = _action(actions, "get", "show one memory in full", GET_EXAMPLE)
    get.add_argument("id", metavar="ID", help="the memory's id")
    get.set_defaults(handler=_get)

    delete = _action(actions, "delete", "delete one memory for good", DELETE_EXAMPLE)
    delete.add_argument("id", metavar="ID", help="the memory's id")
    delete.set_defaults(handler=_delete)

    search = _action(actions, "search", "find memories whose content holds the query's words", SEARCH_EXAMPLE)
    search.add_argument("query", metavar="QUERY", help="the words to look for")
    search.add_argument("--limit", type=int, default=10, help="at most this many memories (default 10)")
    search.set_defaults(handler=_search)

    cli_archive.add_migrate_action(actions)


def _embedding_arg(raw: str) -> list[float]:
    try:
        return _EMBEDDING.decode(raw)
    except msgspec.DecodeError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON array of numbers, e.g. '[0.1, 0.2]' ({exc})") from None


def _remember(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.text == "-" else args.text
    target = resolve_target(args)
    with target.client() as client:
        stored = client.remember(text, id=args.id, confidence=args.confidence, tags=args.tag)
    if args.json:
        print(to_json(stored))
    else:
        replaced = ", replacing the memory with that id" if stored.replaced else ""
        print(
            f"remembered {stored.id} in space '{target.space}' "
            f"(confidence {number(stored.confidence)}, activation {number(stored.activation)}{replaced})"
        )
    return 0


def _recall(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    with target.client() as client:
        result = client.recall(
            args.query, embedding=args.embedding, threshold=args.threshold, max_results=args.max_results, mode=args.mode
        )
    if args.json:
        print(to_json(result))
        return 0
    if not result.hits:
        print(
            f"nothing recalled in space '{target.space}' at threshold {args.threshold:g} ({result.searched} searched)"
        )
        return 0
    rows = [
        [hit.memory.id, number(hit.score), number(hit.similarity), hit.retrieval, hit.memory.content]
        for hit in result.hits
    ]
    print(table(["ID", "SCORE", "SIMILARITY", "FOUND BY", "CONTENT"], rows, right=frozenset({1, 2})))
    print(f"\n{len(result.hits)} of {result.searched} memories in space '{target.space}', {result.elapsed_ms:.1f} ms")
    return 0


def _list(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    filters = protocol.Filters(tags=args.tag) if args.tag else None
    with target.client() as client:
        page = client.list(args.offset, args.limit, filters)
    return _print_page(args, page, target.space, args.offset)


def _search(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    with target.client() as client:
        page = client.search(args.query, args.limit)
    return _print_page(args, page, target.space, 0)


def _print_page(args: argparse.Namespace, page: protocol.MemoryPage, space: str | None, offset: int) -> int:
    if args.json:
        print(to_json(page))
    elif not page.memories:
        print(f"no memories in space '{space}'" + (f" after offset {offset}" if offset else ""))
    else:
        rows = [[m.id, number(m.confidence), when(m.observed_at), ",".join(m.tags), m.content] for m in page.memories]
        print(table(["ID", "CONFIDENCE", "OBSERVED", "TAGS", "CONTENT"], rows, right=frozenset({1})))
        shown = f"{offset + 1}-{offset + len(page.memories)}"
        print(f"\nmemories {shown} of {page.total} in space '{space}'")
    return 0


def _get(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    with target.client() as client:
        record = client.get(args.id)
    if args.json:
        print(to_json(record))
        return 0
    dim = len(record.embedding) // 4 if record.embedding else 0
    pairs = [
        ("id", record.id),
        ("space", str(target.space)),
        ("kind", record.kind),
        ("content", record.content),
        ("confidence", number(record.confidence)),
        ("observed", when(record.observed_at)),
        ("stored", when(record.stored_at)),
        ("last access", when(record.last_access)),
        ("accesses", str(record.access_count)),
        ("tags", ", ".join(record.tags)),
        ("embedding", f"{dim} dims ({record.embedding_source})"),
    ]
    if record.current_confidence is not None:
        pairs.insert(5, ("confidence now", f"{number(record.current_confidence)} after decay"))
    if record.episode is not None:
        context = msgspec.structs.asdict(record.episode)
        pairs += [(f"episode {key}", str(value)) for key, value in context.items() if value is not None]
    pairs += [(f"metadata {key}", value) for key, value in sorted(record.metadata.items())]
    pairs += [(f"link {link.kind}", f"{link.target} ({number(link.weight)})") for link in record.links]
    print(fields(pairs))
    return 0


def _delete(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    with target.client() as client:
        deleted = client.delete(args.id)
    print(to_json(deleted) if args.json else f"deleted {deleted.id} from space '{target.space}'")
    return 0
