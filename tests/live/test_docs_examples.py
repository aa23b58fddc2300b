"""Every example of README.md and docs/**/*.md runs as written against a live server.

Pages are found by glob, so a new page is covered without touching this test. The rules (the short version for
writers is in docs/testing/memory_spaces.md, "Writing docs examples"):

1. Every fenced block names its language. ```bash and ```python blocks are run; ```text, ```console (a transcript
   with output), ```json, ```toml and ```yaml blocks are shown only. Any other or no language fails the test, so a
   command cannot slip out of the run by an unlabelled fence.
2. A page that holds ``<!-- examples: tests/live/test_x.py [more files] -->`` has its examples run by those tests
   (long benchmarks, fault injection): the files must exist, and the page is skipped here.
3. A page's runnable blocks run in page order, in a scratch directory of their own (files they write stay there),
   against a server the test started: ``localhost:7432`` and ``127.0.0.1:7432`` become its HTTP address,
   ``tcp://127.0.0.1:7433`` its router and ``tcp://127.0.0.1:7434`` its events endpoint, in bash and python
   alike, and ``ENGRAM_ROUTER`` names its router (so ``engram`` client commands reach it as an operator's config
   would make them; every other ``ENGRAM_*`` variable of the test's environment is removed). Nothing else in a
   command is changed.
4. A bash block is one command per line; a line that ends in a backslash or leaves a quote open continues on the
   next; blank lines and ``#`` comment lines are skipped. Each command runs in ``bash -o pipefail`` and must exit 0.
   ``engram``, ``python`` and ``curl`` are wrappers first on PATH: ``engram`` and ``python`` run this interpreter,
   ``curl`` adds ``--fail-with-body`` (an HTTP error fails the command). A curl that streams (``-N``,
   ``--no-buffer``) is read for 2 s: it must have printed an event stream (``retry:`` first) and be cut off then
   (exit 28), not end on its own.
5. The output of a command that is a single ``curl`` (no pipe or redirection) must be one JSON document, except for
   ``/metrics`` and a curl told to write its body elsewhere or print headers (``-o``, ``-O``, ``-i``, ``-I``,
   ``-D``, ``-w``); so must the output of a single ``engram ... --json``.
6. ``engram start`` is run for real, in the background, in the page's scratch directory (so ``./engram-data`` is
   the default data directory there), on free ports of its own (its ``--port``, ``--router`` and ``--events``
   values and ``ENGRAM_PORT``/``ENGRAM_ROUTER``/``ENGRAM_EVENTS`` are replaced; ``ENGRAM_WORKERS=2`` caps the
   per-CPU default). It must print its ready line, answer ``/health``, and, unless it names a data directory, run on
   ``./engram-data``. A later ``engram stop`` of the same block must stop it (exit 0); if the block has none, the
   test runs ``engram stop --data-dir DIR`` itself at the end of the block.
7. A python block is a complete program, run by this interpreter in the scratch directory; it must exit 0.
8. Servers: one at a time, shared by consecutive pages as long as the server holds no space (deleted ones included)
   whose id appears as a word in the next page's runnable blocks, and nothing used the default space; otherwise
   the next page gets a fresh server. So pages may reuse names like ``alpha`` freely; they only cost a server.

Not run, and why: ``pip install ...`` (CI installs the package before the tests run; README shows it as text), the
test suite itself (README's ``pytest`` cannot run inside this test), interactive commands (``engram space delete``
without ``--yes`` needs a terminal), and the benchmark pages (rule 2).
"""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.live import docs_examples as docs
from tests.live.docs_examples import (
    PageRunner,
    ServerPool,
    is_simple,
    is_streaming,
    program,
    read_page,
    split_commands,
    to_test_server,
    write_wrappers,
)

PAGES = [read_page(path) for path in docs.page_paths()]
RUNNABLE = [page for page in PAGES if page.runnable and not page.delegated_to]


# -- the rules, checked on every page without a server ------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=lambda page: docs.relative(page.path))
def test_every_code_block_is_closed_and_names_a_known_language(page):
    unknown = [
        f"{block.where}: ```{block.language}" for block in page.blocks if block.language not in docs.RUN | docs.NOT_RUN
    ]
    assert unknown == [], "fence each block as bash or python (run) or text, console, json, toml, yaml (shown only)"
    assert page.problems == ()


@pytest.mark.parametrize("page", PAGES, ids=lambda page: docs.relative(page.path))
def test_bash_blocks_hold_commands_the_runner_can_split(page):
    for block in page.runnable:
        if block.language != "bash":
            continue
        commands = split_commands(block.text)
        assert commands, f"{block.where}: an empty bash block"
        transcripts = [c for c in commands if c.startswith("$ ")]
        assert transcripts == [], f"{block.where}: a transcript with `$ ` prompts is a ```console block"
        assert not any("<<" in docs.tokens(c) for c in commands), f"{block.where}: here-documents are not supported"


def test_a_page_that_delegates_its_examples_names_tests_that_exist():
    delegating = [page for page in PAGES if page.delegated_to]
    for page in delegating:
        for name in page.delegated_to:
            assert name.startswith("tests/") and (docs.ROOT / name).is_file(), f"{docs.relative(page.path)}: {name}"


def test_the_readme_keeps_its_set_up_tour_and_client_example_runnable():
    """README is the page most people copy from: its start, tour, event stream, CLI and client must stay in the
    run, not drift into ```text."""
    readme = PAGES[0]
    assert readme.path.name == "README.md" and not readme.delegated_to
    commands = [c for block in readme.runnable if block.language == "bash" for c in split_commands(block.text)]
    assert docs.START.match(commands[0]), commands[:1]
    assert sum(program(c) == "curl" for c in commands) >= 10
    assert any(is_streaming(c) for c in commands)
    assert any(program(c) == "engram" and not docs.START.match(c) for c in commands)
    assert any(block.language == "python" and "Client(" in block.text for block in readme.runnable)


# -- the parser ---------------------------------------------------------------------------------------------------


def test_commands_continue_over_backslashes_and_open_quotes_and_skip_comments():
    script = (
        "# a comment\n"
        "curl -s localhost:7432/a -H 'X: y' \\\n"
        "     -d '{\"a\": 1}'\n"
        "\n"
        "curl -s -X POST localhost:7432/b -d '{\n"
        '  "when": "now",\n'
        "  # not a comment: inside the quote\n"
        '  "what": "x"}\'\n'
        "engram status  # a trailing comment stays with its command\n"
    )
    commands = split_commands(script)
    assert len(commands) == 3
    assert commands[0].startswith("curl -s localhost:7432/a") and commands[0].endswith("""-d '{"a": 1}'""")
    assert "# not a comment" in commands[1] and commands[1].endswith('"what": "x"}\'')
    assert commands[2] == "engram status  # a trailing comment stays with its command"
    with pytest.raises(ValueError):
        split_commands("curl -d '{\n")


PLAIN_WORD = st.from_regex(r"[A-Za-z0-9_./:=-][A-Za-z0-9_./:=#-]{0,11}", fullmatch=True)
QUOTED_TEXT = st.text(alphabet='ab #{}:,"\n', min_size=1, max_size=20)
COMMAND = st.lists(st.one_of(PLAIN_WORD, QUOTED_TEXT.map(lambda text: (text,))), min_size=1, max_size=6)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(COMMAND, st.lists(st.booleans(), min_size=6, max_size=6), st.booleans()), max_size=5))
def test_any_script_splits_back_into_the_commands_it_was_written_from(written):
    """Commands written with continuations, multi-line quotes, blank and comment lines between them split back into
    exactly those commands, word for word."""
    lines, expected = [], []
    for words, continued, comment_before in written:
        if comment_before:
            lines += ["", "# a comment line"]
        shell_words = [f"'{word[0]}'" if isinstance(word, tuple) else word for word in words]
        command = shell_words[0]
        for word, backslash in zip(shell_words[1:], continued, strict=False):
            command += " \\\n    " + word if backslash else " " + word
        lines.append(command)
        expected.append([word[0] if isinstance(word, tuple) else word for word in words])
    commands = split_commands("\n".join(lines) + "\n")
    assert [shlex.split(command.replace("\\\n", " ")) for command in commands] == expected


def test_streams_simple_commands_and_programs_are_told_apart():
    assert is_streaming("curl -sN localhost:7432/api/v1/spaces/alpha/events")
    assert is_streaming("curl --no-buffer localhost:7432/x")
    assert not is_streaming("curl -s -H 'X-Memory-Space: N' localhost:7432/x")
    assert not is_streaming("engram memory recall N")
    assert is_simple('curl -s -d \'{"a": ">|"}\' localhost:7432/x')
    assert not is_simple("curl -s localhost:7432/openapi.json > openapi.json")
    assert not is_simple("echo hi | engram memory remember -")
    assert program("ENGRAM_WORKERS=4 engram config show") == "engram"
    assert PageRunner.answers_json("curl -s localhost:7432/api/v1/spaces")
    assert PageRunner.answers_json("engram space list --json")
    assert not PageRunner.answers_json("engram space list")
    assert not PageRunner.answers_json("curl -s localhost:7432/metrics")
    assert not PageRunner.answers_json("curl -s localhost:7432/api/v1/spaces/a/export -o a.tar")
    assert not PageRunner.answers_json("curl -si localhost:7432/health")


def test_default_endpoints_become_the_test_servers(tmp_path):
    server = docs.RunningServer(tmp_path)  # not started: only its ports are read
    text = (
        "curl localhost:7432/a http://127.0.0.1:7432/b; "
        'Client("tcp://127.0.0.1:7433", events_endpoint="tcp://127.0.0.1:7434")'
    )
    replaced = to_test_server(text, server)
    assert not any(default in replaced for default in (*docs.HTTP_DEFAULTS, docs.ROUTER_DEFAULT, docs.EVENTS_DEFAULT))
    assert replaced.count(f"127.0.0.1:{server.port}/") == 2
    assert f'Client("{server.router}", events_endpoint="{server.events}")' in replaced


# -- the examples, against live servers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wrappers(tmp_path_factory):
    return write_wrappers(tmp_path_factory.mktemp("docs-bin"))


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    pool = ServerPool(tmp_path_factory.mktemp("docs-servers"))
    yield pool
    pool.close()


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda page: docs.relative(page.path))
def test_the_examples_of_each_page_run_as_written(page, servers, wrappers, tmp_path):
    tally = PageRunner(page, servers.for_page(page), tmp_path, wrappers).run()
    assert tally.commands + tally.python_blocks > 0
    print(f"{docs.relative(page.path)}: {tally} on server {servers.started}")


BROKEN_EXAMPLES = {
    "an HTTP error": ("bash", "curl -s localhost:7432/api/v1/spaces/no-such-space-9\n"),
    "an answer that is not JSON": ("bash", "curl -s 'localhost:7432/metrics?format=text'\n"),
    "a stream that is not one": ("bash", "curl -sN localhost:7432/health\n"),
    "a failing engram command": ("bash", "engram memory get nothing-here --space no-such-space-9\n"),
    "a failing pipeline": ("bash", "engram space list --json | false\n"),
    "a failing python program": ("python", "raise SystemExit(3)\n"),
}


@pytest.mark.parametrize("language, text", BROKEN_EXAMPLES.values(), ids=BROKEN_EXAMPLES.keys())
def test_a_broken_example_fails_the_run(language, text, servers, wrappers, tmp_path):
    fake = docs.ROOT / "docs" / "broken-example.md"  # never written: the page exists only here
    page = docs.Page(fake, (docs.Block(fake, 1, language, text),), ())
    with pytest.raises(docs.ExampleFailed, match="broken-example.md:1"):
        PageRunner(page, servers.for_page(page), tmp_path, wrappers).run()
