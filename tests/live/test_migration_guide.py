"""docs/migration.md, followed step by step, as written, on a data directory in the single-space layout.

The commands come from the guide itself (its ```bash and ```python blocks, step by step), so the page cannot drift
from what the server does: ``/var/lib/engram`` becomes the test's data directory, ``localhost:7432`` and
``tcp://127.0.0.1:7433`` the running server's addresses, ``engram start`` a real server started with the flags the
guide gives, ``engram stop`` is run as is, other ``engram`` commands get the server's ``--router``, and ``curl`` gets
``--fail-with-body`` (a 4xx or 5xx fails the command). Transcripts the guide shows (```console) are compared with what
the commands really print where they are deterministic.

The single-space layout is made the way tests/live/test_storage.py makes it: a real server writes the memories (as
old clients did, naming no space, plus a snapshot so both the snapshot and the log tail matter), then its default
space's files are moved directly under the data root and the registry is removed. That happens right after the
guide's ``engram stop`` of step 1, standing in for the files an old version left behind, and before its backup.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
import requests

from engram import metrics
from engram.client import Client
from engram.errors import EngramError, ErrorCode
from engram.testing import RunningServer, wait_until
from tests.conftest import Api, recalled_ids
from workers import durability

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "migration.md"
RUNNER_MARKER = "<!-- examples: tests/live/test_migration_guide.py -->"
DOC_DATA_DIR = "/var/lib/engram"
DOC_ADDRESS = "localhost:7432"
DOC_ROUTER = "tcp://127.0.0.1:7433"
COMMAND_TIMEOUT_S = 60
SINGLE_SPACE_ENTRIES = ("wal", "hot", "warm", "cold", "space.json", "consolidations.json")
"""What a data directory from before memory spaces holds directly under its root (router/legacy.py moves them all)."""
CONSOLIDATIONS = "consolidations.json"
OLD_MEMORIES = {
    "invoice-1041": "Invoice 1041 from Acme was paid on March 3",
    "invoice-1042": "Invoice 1042 from Globex is overdue since April 1",
    "invoice-1043": "Invoice 1043 from Initech was disputed by phone",
    "invoice-1044": "Invoice 1044 from Umbrella is due at the end of May",
}


@dataclass
class Step:
    """One numbered section of the guide: its commands (```bash), programs (```python) and transcripts."""

    title: str
    commands: list[str] = field(default_factory=list)
    programs: list[str] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)


def guide_steps() -> dict[int, Step]:
    steps: dict[int, Step] = {}
    for section in re.split(r"^## ", GUIDE.read_text(), flags=re.M)[1:]:
        heading = re.match(r"(\d+)\. (.*)", section)
        if heading is None:
            continue
        step = steps[int(heading.group(1))] = Step(heading.group(2))
        for kind, body in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S):
            if kind == "bash":
                step.commands += _commands(body)
            elif kind == "python":
                step.programs.append(body)
            elif kind == "console":
                step.transcripts.append(body)
    return steps


def _commands(block: str) -> list[str]:
    commands, pending = [], ""
    for line in block.splitlines():
        if not pending and (line.startswith("#") or not line.strip()):
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        commands.append((pending + line).strip())
        pending = ""
    return commands


def transcript_outputs(transcript: str) -> dict[str, str]:
    """``$ command`` lines of a transcript and the output shown under each."""
    shown: dict[str, list[str]] = {}
    current = None
    for line in transcript.splitlines():
        if line.startswith("$ "):
            current = line[2:]
            shown[current] = []
        elif current is not None:
            shown[current].append(line)
    return {command: "\n".join(lines) for command, lines in shown.items()}


class Operator:
    """Runs the guide's commands the way an operator at a shell would, against the server on the data directory."""

    def __init__(self, make_server, data_dir: Path, workdir: Path) -> None:
        self.make_server = make_server
        self.data_dir = data_dir
        self.workdir = workdir
        self.server: RunningServer | None = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ENGRAM_")}

    def local(self, text: str) -> str:
        text = text.replace(DOC_DATA_DIR, str(self.data_dir))
        if self.server is not None:
            text = text.replace(DOC_ADDRESS, self.server.url.removeprefix("http://"))
            text = text.replace(DOC_ROUTER, self.server.router)
        return text

    def run(self, command: str, *, fail_on_http_error: bool = True) -> subprocess.CompletedProcess:
        command = self.local(command)
        if command.startswith("engram start"):
            return self._start(command)
        if command.startswith("engram stop"):
            done = self._shell(f"{sys.executable} -m engram{command[6:]}")
            self.server = None
            return done
        if command.startswith("engram "):
            assert self.server is not None, f"the guide runs {command!r} with no server running"
            return self._shell(f"{sys.executable} -m engram{command[6:]} --router {self.server.router}")
        if command.startswith("curl ") and fail_on_http_error:
            command = "curl --fail-with-body" + command[4:]
        return self._shell(command)

    def run_ok(self, command: str) -> str:
        done = self.run(command)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        return done.stdout

    def python(self, program: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", self.local(program)],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.workdir,
            timeout=COMMAND_TIMEOUT_S,
        )
        assert done.returncode == 0, (program, done.stderr)
        return done.stdout

    def _start(self, command: str) -> subprocess.CompletedProcess:
        """``engram start`` with the guide's flags, as a RunningServer (free ports, waits for the ready line)."""
        args = shlex.split(command)[2:]
        at = args.index("--data-dir")
        assert Path(args[at + 1]) == self.data_dir, command
        del args[at : at + 2]
        self.server = self.make_server(self.data_dir, workers=1, extra_args=args)
        return subprocess.CompletedProcess(command, 0, "".join(self.server.output), "")

    def _shell(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            command,
            shell=True,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.workdir,
            timeout=COMMAND_TIMEOUT_S,
        )


def write_as_old_clients(server: RunningServer) -> None:
    """The old deployment's memories, written as its clients wrote them: naming no space. A snapshot between the
    writes (export takes one) leaves the data both in ``hot/`` and in the log tail."""
    http = requests.Session()
    for number, (memory_id, content) in enumerate(OLD_MEMORIES.items()):
        answer = http.post(
            f"{server.url}/api/v1/memories/remember", json={"id": memory_id, "content": content}, timeout=30
        )
        assert answer.status_code == 201, answer.text
        if number == 1:
            with Client(server.router, space="default") as client:
                client.export_space("default")
    # A consolidation pass, as the old server's schedule ran them: the space then holds consolidations.json too.
    assert http.post(f"{server.url}/api/v1/spaces/default/consolidate", timeout=30).status_code == 200


def lay_out_as_single_space(root: Path) -> None:
    """Turn the stopped server's data directory into the layout from before memory spaces."""
    for entry in (root / "default").iterdir():
        entry.rename(root / entry.name)
    (root / "default").rmdir()
    for name in ("registry.json", "registry.log"):
        (root / name).unlink(missing_ok=True)


def api_consolidations(url: str) -> dict:
    answer = requests.get(f"{url}/api/v1/spaces/default/consolidations", timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _rfc3339_seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def shown_log_messages(transcript: str) -> list[str]:
    """The messages of the log lines a transcript shows, without their time, process and logger prefix."""
    return [re.sub(r"^.* (WARNING|ERROR|INFO) [\w.]+: ", "", line) for line in transcript.splitlines() if line]


def fallback_count(metrics_line: str) -> float:
    match = re.fullmatch(r"engram_memory_space_default_fallback_total (\S+)\n?", metrics_line)
    assert match, metrics_line
    return float(match.group(1))


def test_the_migration_guide_takes_a_single_space_directory_to_explicit_tenant_spaces(make_server, tmp_path):
    head = GUIDE.read_text().splitlines()[:5]
    assert RUNNER_MARKER in head, "the generic docs example runner must skip this page: this test runs it"
    steps = guide_steps()
    assert sorted(steps) == [1, 2, 3, 4, 5, 6], sorted(steps)
    root = tmp_path / "engram"
    operator = Operator(make_server, root, tmp_path)
    old = make_server(root, workers=1)
    operator.server = old
    write_as_old_clients(old)

    # 1. Back up and stop: the guide's stop really stops the old server; its files then take the old layout.
    for command in steps[1].commands:
        operator.run_ok(command)
        if command.startswith("engram stop"):
            assert old.process is not None and old.process.poll() is not None, "engram stop left the server running"
            lay_out_as_single_space(root)
    backup = tmp_path / "engram.before-spaces"
    assert (backup / "wal").is_dir() and (backup / "space.json").is_file() and not (backup / "default").exists()

    # 2. The new server wraps the old layout into default/ and logs it as the guide shows.
    start, *checks = steps[2].commands
    assert start.startswith("engram start"), start
    operator.run_ok(start)
    server_log = "".join(operator.server.output)
    (logged,) = steps[2].transcripts
    for message in shown_log_messages(operator.local(logged)):
        assert message in server_log, (message, server_log[-3000:])
    assert not any((root / name).exists() for name in SINGLE_SPACE_ENTRIES)
    assert (root / "default" / "wal").is_dir()
    assert (root / "default" / CONSOLIDATIONS).is_file()  # moved where a space keeps it, as the guide says
    old_pass = json.loads((backup / CONSOLIDATIONS).read_bytes())["generated_at"]
    served = api_consolidations(operator.server.url)["generated_at"]
    assert served is not None and abs(_rfc3339_seconds(served) - old_pass) < 1, (served, old_pass)
    outputs = {command: operator.run_ok(command) for command in checks}
    assert re.search(rf"^memories:\s+{len(OLD_MEMORIES)}$", outputs["engram space show default"], flags=re.M)
    assert all(memory_id in outputs["engram memory list --space default"] for memory_id in OLD_MEMORIES)
    assert json.loads(outputs["curl -s localhost:7432/api/v1/spaces/default"])["memories"] == len(OLD_MEMORIES)

    # 3. Clients name their space; the counter the guide watches sees a client that still does not.
    api = Api(operator.server.url)
    watch = next(c for c in steps[3].commands if "/metrics" in c)
    for command in steps[3].commands:
        answer = operator.run_ok(command)
        if command != watch:
            assert recalled_ids(json.loads(answer)), command  # the old memories, from the space the client named
    assert fallback_count(operator.run_ok(watch)) == 0  # every command so far named its space
    (program,) = steps[3].programs
    assert operator.python(program).strip() == f"{len(OLD_MEMORIES)} memories in default"
    assert api.get("/api/v1/memories", params={"limit": 1}).status_code == 200  # a REST client not switched yet
    with Client(operator.server.router) as unswitched:  # and a native one
        assert unswitched.list().total == len(OLD_MEMORIES)
    assert fallback_count(operator.run_ok(watch)) == 2
    _, logged = steps[3].transcripts
    server_log = "".join(operator.server.output)
    for message in shown_log_messages(logged):
        assert message in server_log, (message, server_log[-3000:])

    # 4. With explicit spaces required, a request without one is refused exactly as the guide shows.
    for command in steps[4].commands:
        operator.run_ok(command)
    assert "--require-explicit-space" in operator.server.command()
    (refused,) = steps[4].transcripts
    for command, shown in transcript_outputs(refused).items():
        done = operator.run(command, fail_on_http_error=False)
        assert json.loads(done.stdout) == json.loads(shown), command
    with Client(operator.server.router) as unswitched, pytest.raises(EngramError) as refusal:
        unswitched.list()
    assert refusal.value.code == ErrorCode.MISSING_MEMORY_SPACE

    # 5. The old data moves into a space of its own; default is emptied, with its dimension kept.
    api = Api(operator.server.url)
    migrate = next(c for c in steps[5].commands if c.startswith("engram memory migrate"))
    tenant = shlex.split(migrate)[shlex.split(migrate).index("--to") + 1]
    dim_before = api.get("/api/v1/spaces/default").json()["dim"]
    outputs = {command: operator.run_ok(command) for command in steps[5].commands}
    (shown_migrate,) = [t for t in steps[5].transcripts if migrate in t]
    assert outputs[migrate].strip() == transcript_outputs(shown_migrate)[migrate].strip()
    assert f"moved {len(OLD_MEMORIES)} memories from 'default' to '{tenant}'" in outputs[migrate]
    moved = api.get(f"/api/v1/spaces/{tenant}/memories", params={"limit": 100}).json()["memories"]
    assert {m["id"]: m["content"] for m in moved} == OLD_MEMORIES
    default = api.get("/api/v1/spaces/default").json()
    assert (default["memories"], default["dim"]) == (0, dim_before)
    switched = next(c for c in steps[5].commands if f"X-Memory-Space: {tenant}" in c)
    assert set(recalled_ids(json.loads(outputs[switched]))) <= set(OLD_MEMORIES)
    assert recalled_ids(json.loads(outputs[switched]))
    without_space = api.get("/api/v1/memories/recall", params={"query": "invoice"})
    assert without_space.status_code == 400
    assert without_space.json()["error"]["code"] == "MISSING_MEMORY_SPACE"

    # 6. What is left is what the guide lists; nothing of the old layout, and the trash empties itself.
    (listing,) = steps[6].commands
    (shown_listing,) = steps[6].transcripts
    shown = set(shown_listing.split())
    if metrics.metrics_dir_for(root).parent == root:  # no room in /dev/shm here: the guide's table explains .metrics
        shown.add(metrics.METRICS_DIR)
    if not (root / durability.FLUSH_FILE).exists():  # made on ext4 only: the guide's table says so
        shown.discard(durability.FLUSH_FILE)
    assert set(operator.run_ok(listing).split()) == shown
    assert not any((root / name).exists() for name in (*SINGLE_SPACE_ENTRIES, "warm_tier.dat"))
    wait_until(lambda: not any((root / ".trash").iterdir()), message="the old default space purged from the trash")
