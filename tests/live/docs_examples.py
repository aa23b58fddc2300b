"""Find the examples of README.md and docs/**/*.md and run them against a live server.

The rules these functions implement are stated once, at the top of tests/live/test_docs_examples.py. This module
holds the mechanics: reading fenced blocks, splitting a bash block into commands, the small wrappers put first on
PATH (``engram``, ``python``, ``curl``) so a command runs exactly as written, and the runner that checks each
command's exit code and output.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from engram.testing import READY_MARK, READY_TIMEOUT_S, STOP_TIMEOUT_S, RunningServer, free_port

ROOT = Path(__file__).resolve().parents[2]

RUN = frozenset({"bash", "python"})
"""Fence languages whose blocks are run."""
NOT_RUN = frozenset({"text", "console", "json", "toml", "yaml"})
"""Fence languages whose blocks are shown only: outputs, transcripts, files, diagrams."""

MARKER = re.compile(r"^<!--\s*examples:\s*(.*?)\s*-->\s*$", re.MULTILINE)  # on a line of its own
OPEN_FENCE = re.compile(r"^(\s*)```\s*(\S*)")
CLOSE_FENCE = re.compile(r"^\s*```\s*$")

HTTP_DEFAULTS = ("localhost:7432", "127.0.0.1:7432")
ROUTER_DEFAULT = "tcp://127.0.0.1:7433"
EVENTS_DEFAULT = "tcp://127.0.0.1:7434"

STREAM_SECONDS = 2
"""How long a streaming ``curl -N`` is read before it is cut off (curl then exits 28, "operation timed out")."""
CURL_TIMED_OUT = 28
COMMAND_TIMEOUT_S = 90.0
SHELL_OPERATORS = frozenset({"|", "||", "&", "&&", ";", ">", ">>", "<", "<<", "(", ")", "|&", ">&", "<&"})
START = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*engram\s+start(?:\s|$)")
STOP = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*engram\s+stop(?:\s|$)")
SPACE_WORD = re.compile(r"[a-z0-9_-]{3,64}")
CURL_NOT_BODY = frozenset({"--output", "--remote-name", "--include", "--head", "--dump-header", "--write-out"})
"""curl options (and their short forms -o -O -i -I -D -w, alone or in a cluster) that send the body elsewhere or print
more than the body: the output of such a curl is not checked as JSON."""


# -- reading pages ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str

    @property
    def where(self) -> str:
        return f"{relative(self.page)}:{self.line}"


@dataclass(frozen=True)
class Page:
    path: Path
    blocks: tuple[Block, ...]
    delegated_to: tuple[str, ...]  # the test files a `<!-- examples: ... -->` marker names
    problems: tuple[str, ...] = ()  # e.g. a block never closed (reported by a test, so one page cannot stop all)

    @property
    def runnable(self) -> list[Block]:
        return [block for block in self.blocks if block.language in RUN]

    def words(self) -> set[str]:
        """Every word of the runnable blocks that could be a space id (a superset of the spaces they touch)."""
        return {word for block in self.runnable for word in SPACE_WORD.findall(block.text)}


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def page_paths() -> list[Path]:
    """README.md, then every page under docs/ (new pages are covered without touching the test)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def read_page(path: Path) -> Page:
    text = path.read_text()
    blocks: list[Block] = []
    problems: list[str] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opened = OPEN_FENCE.match(lines[index])
        if opened is None:
            index += 1
            continue
        indent, language = len(opened.group(1)), opened.group(2)
        start, body = index + 1, []
        index += 1
        while index < len(lines) and not CLOSE_FENCE.match(lines[index]):
            body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
            index += 1
        if index == len(lines):
            problems.append(f"{relative(path)}:{start}: a code block is never closed")
        blocks.append(Block(path, start, language, "\n".join(body) + "\n"))
        index += 1
    delegated = tuple(name for marker in MARKER.findall(text) for name in marker.split())
    return Page(path, tuple(blocks), delegated, tuple(problems))


def split_commands(script: str) -> list[str]:
    """The commands of a bash block: one per line, a line ending in a backslash or inside an open quote continues
    on the next; blank lines and comment lines between commands are skipped."""
    commands, pending = [], ""
    for line in script.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line + "\n"
        if _complete(pending):
            commands.append(pending.strip())
            pending = ""
    if pending:
        raise ValueError(f"unfinished command (an open quote or a trailing backslash): {pending.strip()}")
    return commands


def _complete(command: str) -> bool:
    if command.rstrip("\n").endswith("\\"):
        return False
    try:
        shlex.split(command)
    except ValueError:
        return False
    return True


def tokens(command: str) -> list[str]:
    """Shell words and operators (``|``, ``>``, ``&&`` ... as tokens of their own)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)


def program(command: str) -> str:
    """The program a simple command runs, after any leading ``NAME=value`` assignments."""
    for word in tokens(command):
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", word):
            return word
    return ""


def is_simple(command: str) -> bool:
    """One program, no pipe, redirection or list: its standard output is the program's answer."""
    return not any(word in SHELL_OPERATORS for word in tokens(command))


def is_streaming(command: str) -> bool:
    """A curl that reads a stream: ``-N`` (alone or in a cluster of short options) or ``--no-buffer``."""
    words = tokens(command)
    return "curl" in words and any(
        word == "--no-buffer" or (word.startswith("-") and not word.startswith("--") and "N" in word) for word in words
    )


def to_test_server(text: str, server: RunningServer) -> str:
    """The default endpoints (HTTP 7432, router 7433, events 7434) replaced by the test server's."""
    address = server.url.removeprefix("http://")
    for default in HTTP_DEFAULTS:
        text = text.replace(default, address)
    return text.replace(ROUTER_DEFAULT, server.router).replace(EVENTS_DEFAULT, server.events)


# -- the wrappers on PATH ----------------------------------------------------------------------------------------

CURL_WRAPPER = """#!/bin/sh
# docs examples: an HTTP error fails the command; a stream (-N, --no-buffer) is read for {seconds} s, then cut (28).
for arg in "$@"; do
  case "$arg" in
    --no-buffer) exec "{curl}" --fail-with-body --max-time {seconds} "$@" ;;
    --*) ;;
    -*N*) exec "{curl}" --fail-with-body --max-time {seconds} "$@" ;;
  esac
done
exec "{curl}" --fail-with-body "$@"
"""


def write_wrappers(directory: Path) -> Path:
    """``engram`` and ``python`` as this interpreter runs them, and a ``curl`` that fails on HTTP errors."""
    curl = shutil.which("curl")
    if curl is None:
        raise AssertionError("the docs examples need curl on PATH")
    directory.mkdir(parents=True, exist_ok=True)
    scripts = {
        "engram": f'#!/bin/sh\nexec "{sys.executable}" -m engram "$@"\n',
        "python": f'#!/bin/sh\nexec "{sys.executable}" "$@"\n',
        "python3": f'#!/bin/sh\nexec "{sys.executable}" "$@"\n',
        "curl": CURL_WRAPPER.format(curl=curl, seconds=STREAM_SECONDS),
    }
    for name, script in scripts.items():
        (directory / name).write_text(script)
        (directory / name).chmod(0o755)
    return directory


# -- servers -----------------------------------------------------------------------------------------------------


class ServerPool:
    """One server at a time, shared by consecutive pages while a page's examples name no space the server holds
    (deleted ones included) and nothing used the default space; otherwise the next page gets a fresh server."""

    def __init__(self, root: Path, workers: int = 2) -> None:
        self.root = root
        self.workers = workers
        self.current: RunningServer | None = None
        self.started = 0

    def for_page(self, page: Page) -> RunningServer:
        if self.current is not None:
            held = self.spaces(self.current)
            if "default" in held or held & page.words() or self.current.process.poll() is not None:
                self.close()
        if self.current is None:
            self.started += 1
            self.current = RunningServer(self.root / f"server{self.started}", workers=self.workers).start()
        return self.current

    @staticmethod
    def spaces(server: RunningServer) -> set[str]:
        try:
            with urllib.request.urlopen(f"{server.url}/api/v1/spaces?include_deleted=true", timeout=30) as answer:
                return {space["id"] for space in json.load(answer)["spaces"]}
        except OSError:
            return {"default"}  # cannot tell what it holds: do not share it

    def close(self) -> None:
        if self.current is not None:
            try:
                self.current.stop()
            finally:
                self.current.kill()
                self.current = None


@dataclass
class StartedServer:
    """A server an example started itself with ``engram start``."""

    command: str
    process: subprocess.Popen
    port: int
    output: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    def pump(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self.output.append(line)
            if line.startswith(READY_MARK):
                self.ready.set()
        self.ready.set()

    @property
    def ready_line(self) -> str:
        return next((line for line in self.output if line.startswith(READY_MARK)), "")

    @property
    def data_dir(self) -> str:
        found = re.search(r"\bdata (\S+),", self.ready_line)
        return found.group(1) if found else ""

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


# -- running -----------------------------------------------------------------------------------------------------


class ExampleFailed(AssertionError):
    pass


@dataclass
class Tally:
    commands: int = 0
    python_blocks: int = 0
    started_servers: int = 0


class PageRunner:
    """Runs one page's runnable blocks in order, in ``workdir``, against ``server``."""

    def __init__(self, page: Page, server: RunningServer, workdir: Path, wrappers: Path) -> None:
        self.page = page
        self.server = server
        self.workdir = workdir
        self.tally = Tally()
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("ENGRAM_")}
        self.env = {
            **inherited,
            "PATH": f"{wrappers}{os.pathsep}{os.environ.get('PATH', '')}",
            "ENGRAM_ROUTER": server.router,  # what `engram` client commands talk to, as an operator's config would say
            "ENGRAM_LOG_LEVEL": "WARNING",
        }

    def run(self) -> Tally:
        for block in self.page.runnable:
            if block.language == "python":
                self.run_python(block)
            else:
                self.run_bash(block)
        return self.tally

    # -- bash

    def run_bash(self, block: Block) -> None:
        started: StartedServer | None = None
        try:
            for command in split_commands(block.text):
                if START.match(command) and "--help" not in tokens(command):
                    if started is not None:
                        raise self.failed(block, command, "a second `engram start` while the first still runs")
                    started = self.start(block, command)
                    continue
                self.run_command(block, command)
                if started is not None and STOP.match(command):
                    self.expect_stopped(block, command, started)
                    started = None
            if started is not None:  # the block left it running: stop it as an operator would
                stop = f"engram stop --data-dir {shlex.quote(started.data_dir)}"
                self.run_command(block, stop)
                self.expect_stopped(block, stop, started)
                started = None
        finally:
            if started is not None:
                started.kill()

    def run_command(self, block: Block, command: str) -> None:
        effective = to_test_server(command, self.server)
        done = self.shell(effective)
        self.tally.commands += 1
        if is_streaming(command):
            if done.returncode != CURL_TIMED_OUT or not done.stdout.startswith("retry:"):
                raise self.failed(block, command, "expected an open event stream, cut after the time limit", done)
            return
        if done.returncode != 0:
            raise self.failed(block, command, f"exit code {done.returncode}", done)
        if is_simple(command) and self.answers_json(command):
            try:
                json.loads(done.stdout)
            except ValueError:
                raise self.failed(block, command, "the answer is not one JSON document", done) from None

    @staticmethod
    def answers_json(command: str) -> bool:
        name, words = program(command), tokens(command)
        if name == "curl":
            elsewhere = any(
                word in CURL_NOT_BODY or (word[:1] == "-" and word[1:2] != "-" and set(word[1:]) & set("oOiIDw"))
                for word in words[1:]
            )
            return not elsewhere and not any(word.rstrip("/").endswith("/metrics") for word in words)
        return name == "engram" and "--json" in words

    def shell(self, command: str) -> subprocess.CompletedProcess:
        return self._run(["bash", "-o", "pipefail", "-c", command], f"{command}: no exit")

    def _run(self, argv: list[str], what: str) -> subprocess.CompletedProcess:
        """Run one example in the page's scratch directory, with the wrappers and the test server's addresses."""
        try:
            return subprocess.run(
                argv, cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
            )
        except subprocess.TimeoutExpired as exc:
            raise ExampleFailed(f"{what} within {COMMAND_TIMEOUT_S:.0f} s") from exc

    # -- engram start / engram stop

    def start(self, block: Block, command: str) -> StartedServer:
        """Run ``engram start`` in the background on free ports (its own, not the test server's) and wait for it."""
        port, router, events = free_port(), f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
        effective = re.sub(r"--port[= ]\S+", f"--port {port}", command)
        effective = re.sub(r"--router[= ]\S+", f"--router {router}", effective)
        effective = re.sub(r"--events[= ]\S+", f"--events {events}", effective)
        env = {
            **self.env,
            "ENGRAM_PORT": str(port),
            "ENGRAM_ROUTER": router,
            "ENGRAM_EVENTS": events,
            "ENGRAM_WORKERS": "2",  # a flag in the example still wins; this only caps the per-CPU default
        }
        process = subprocess.Popen(
            ["bash", "-c", effective],
            cwd=self.workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, killed as one if the example fails
        )
        started = StartedServer(command, process, port)
        threading.Thread(target=started.pump, daemon=True).start()
        self.tally.commands += 1
        self.tally.started_servers += 1
        if not started.ready.wait(READY_TIMEOUT_S) or process.poll() is not None or not started.ready_line:
            started.kill()
            raise self.failed(block, command, "the server did not print its ready line:\n" + "".join(started.output))
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as answer:
                healthy = answer.status == 200
        except OSError:
            healthy = False
        names_data_dir = "--data-dir" in tokens(command) or "--config" in tokens(command)
        expected_dir = str((self.workdir / "engram-data").resolve())
        if not healthy or (not names_data_dir and started.data_dir != expected_dir):
            started.kill()
            raise self.failed(block, command, f"not healthy, or not on ./engram-data: {started.ready_line}")
        return started

    def expect_stopped(self, block: Block, command: str, started: StartedServer) -> None:
        try:
            code = started.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            started.kill()
            raise self.failed(block, command, f"did not stop the server of `{started.command}`") from None
        if code != 0:
            raise self.failed(block, command, f"the server exited {code}:\n" + "".join(started.output[-30:]))

    # -- python

    def run_python(self, block: Block) -> None:
        script = self.workdir / f"example_{block.line}.py"
        script.write_text(to_test_server(block.text, self.server))
        done = self._run([sys.executable, str(script)], f"{block.where}: the python example did not end")
        self.tally.python_blocks += 1
        if done.returncode != 0:
            raise self.failed(block, "(python block)", f"exit code {done.returncode}", done)

    # -- reporting

    def failed(
        self, block: Block, command: str, why: str, done: subprocess.CompletedProcess | None = None
    ) -> ExampleFailed:
        detail = f"{block.where}: {why}\n  as written: {command}"
        if done is not None:
            detail += f"\n  stdout: {done.stdout[-2000:]}\n  stderr: {done.stderr[-2000:]}"
        return ExampleFailed(detail)
