"""Every command of README's five-minute tour runs as written against a live server, and answers 2xx.

The tour's commands are taken from README itself, so the page cannot go stale: each ``curl`` gets ``--fail-with-body``
(a 4xx or 5xx then fails the command), ``localhost:7432`` becomes the test server's address, the event stream is
read for a moment (``--max-time``), and ``engram`` commands get the test server's ``--router``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
CURL_TIMED_OUT = 28


def _tour_commands() -> list[str]:
    block = README.read_text().split("## A five-minute tour", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands, pending = [], ""
    for line in block.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        pending += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            commands.append(pending.strip())
            pending = ""
    return commands


def test_the_readme_tour_runs_as_written(make_server):
    running = make_server(workers=2)
    address = running.url.removeprefix("http://")
    commands = _tour_commands()
    assert any("events" in c for c in commands) and any(c.startswith("engram ") for c in commands)
    for command in commands:
        streaming = command.startswith("curl -sN")
        command = command.replace("localhost:7432", address)
        if command.startswith("curl "):
            command = "curl --fail-with-body" + (" --max-time 2" if streaming else "") + command[4:]
        elif command.startswith("engram "):
            command = f"{sys.executable} -m engram{command[6:]} --router {running.router}"
        done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60)
        if streaming:
            assert done.returncode == CURL_TIMED_OUT, (command, done.stderr)
            assert done.stdout.startswith("retry:"), done.stdout  # the stream opened and stayed open
            continue
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        if command.startswith("curl"):
            json.loads(done.stdout)  # every REST answer of the tour is a JSON document
