"""The ``engram`` command's pure parts: its manual, how it picks a router and a space, and how it prints."""

from __future__ import annotations

import argparse
import json
import string

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from engram import protocol
from engram.cli import build_parser, describe_error
from engram.cli_output import MIN_LAST_COLUMN_WIDTH, clip, table, to_json
from engram.cli_target import choose_router, choose_space, running_router
from engram.errors import EngramError, ErrorCode

maybe = st.one_of(st.none(), st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8))
cell = st.text(alphabet=string.ascii_letters + string.digits + " .", max_size=12)


def _leaf_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every (command path, parser) pair, the groups as well as the commands that run."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _leaf_parsers(child, (*path, name))


def test_every_command_help_says_what_it_does_with_an_example():
    commands = dict(_leaf_parsers(build_parser()))
    expected = {("space", a) for a in ("list", "create", "show")} | {("config", "show")}
    expected |= {("memory", a) for a in ("remember", "recall", "list", "get", "delete", "search")}
    assert expected <= set(commands)
    for path, parser in commands.items():
        text = parser.format_help()
        assert parser.description, path
        assert "example" in text and "engram " in (parser.epilog or ""), path


def test_memory_and_space_commands_take_the_client_options():
    parser = build_parser()
    args = parser.parse_args(["memory", "recall", "q", "--space", "alpha", "--router", "tcp://h:1", "--json"])
    assert (args.query, args.space, args.router, args.json) == ("q", "alpha", "tcp://h:1", True)
    args = parser.parse_args(["memory", "remember", "fact", "--tag", "a", "--tag", "b", "--confidence", "0.9"])
    assert (args.tag, args.confidence, args.space) == (["a", "b"], 0.9, None)
    assert not hasattr(parser.parse_args(["space", "show", "alpha"]), "space")


@given(flag=maybe, env=maybe, configured=st.text(min_size=1, max_size=8))
def test_the_space_flag_wins_then_the_variable_then_the_configuration(flag, env, configured):
    expected = flag if flag is not None else env if env else configured
    assert choose_space(flag, env, configured) == expected


def test_an_empty_space_variable_counts_as_unset_but_an_empty_flag_is_sent_for_the_server_to_refuse():
    assert choose_space(None, "", "default") == "default"
    assert choose_space("", "env-space", "default") == ""


@given(flag=maybe, running=maybe, configured=st.text(min_size=1, max_size=8))
def test_the_router_flag_wins_then_the_running_server_then_the_configuration(flag, running, configured):
    expected = flag if flag is not None else running if running is not None else configured
    assert choose_router(flag, running, configured) == expected


def test_a_pid_file_of_a_dead_server_is_ignored(tmp_path):
    (tmp_path / "engram.pid").write_text(json.dumps({"pid": 2**22 + 12345, "router": "tcp://127.0.0.1:1"}))
    assert running_router(str(tmp_path)) is None
    assert running_router(str(tmp_path / "nowhere")) is None


@given(st.lists(st.lists(cell, min_size=3, max_size=3), max_size=6), st.integers(20, 120))
def test_table_columns_line_up_and_every_row_stays_on_one_line(rows, width):
    headers = ["ID", "SCORE", "CONTENT"]
    lines = table(headers, rows, right=frozenset({1}), width=width).split("\n")
    assert len(lines) == len(rows) + 1
    id_width, score_width, content_width = (max(len(row[i]) for row in [headers, *rows]) for i in range(3))
    score_start = id_width + 2
    content_start = score_start + score_width + 2
    content_width = min(content_width, max(MIN_LAST_COLUMN_WIDTH, width - content_start))
    for line, row in zip(lines, [headers, *rows], strict=True):
        padded = line.ljust(content_start + content_width)
        assert padded[:id_width] == row[0].ljust(id_width)  # left-aligned text
        assert padded[score_start : score_start + score_width] == row[1].rjust(score_width)  # right-aligned number
        assert padded[content_start:] == clip(row[2], content_width).ljust(content_width)


def test_the_last_column_is_clipped_to_the_width_and_newlines_never_break_a_row():
    long_text = "line one\nline two " + "x" * 200
    lines = table(["ID", "CONTENT"], [["m1", long_text]], width=50).split("\n")
    assert len(lines) == 2 and len(lines[1]) <= 50 and lines[1].endswith("…")
    assert "line one line two" in lines[1]


def test_json_output_shows_embeddings_as_numbers_and_keeps_protocol_field_names():
    record = protocol.MemoryRecord("m1", "fact", 0.7, 1.0, 1.0, 1.0, "client", embedding=b"\x00\x00\x80?\x00\x00\x00@")
    parsed = json.loads(to_json(record))
    assert parsed["embedding"] == [1.0, 2.0]
    assert set(msgspec.structs.asdict(record)) >= set(parsed)


def test_errors_read_code_message_then_hint():
    error = EngramError(ErrorCode.MEMORY_NOT_FOUND, "Memory 'x' not found.", hint="List the memories.")
    assert describe_error(error) == "MEMORY_NOT_FOUND: Memory 'x' not found. (List the memories.)"
    assert describe_error(EngramError(ErrorCode.BAD_REQUEST, "Bad.")) == "BAD_REQUEST: Bad."
