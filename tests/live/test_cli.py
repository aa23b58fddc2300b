"""The ``engram`` command against the live server, run as a user runs it: a subprocess, read back through REST.

The original CLI put its space in a header the server never read, so every write landed in the default space; these
tests check that ours lands exactly where ``--space`` (or ``ENGRAM_MEMORY_SPACE``, or the configured default) says.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMAND_TIMEOUT_S = 60


@pytest.fixture
def engram(tmp_path):
    """Run ``python -m engram ARGS`` in an empty directory with no ENGRAM_* settings but ``env``."""

    def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("ENGRAM_")}
        return subprocess.run(
            [sys.executable, "-m", "engram", *args],
            capture_output=True,
            text=True,
            input=stdin,
            env={**clean, **(env or {})},
            cwd=tmp_path,
            timeout=COMMAND_TIMEOUT_S,
        )

    return run


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def _stored_in(api, space: str, memory_id: str) -> bool:
    response = api.get(f"/api/v1/spaces/{space}/memories/{memory_id}")
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200


def test_the_space_flag_reaches_that_space_and_no_other(engram, api, server, unique):
    space, memory_id = f"{unique}-cli", f"{unique}-m1"
    out = _ok(engram("memory", "remember", "Paris is the capital of France", "--id", memory_id, "--space", space,
                     "--router", server.router, "--json"))  # fmt: skip
    assert json.loads(out)["id"] == memory_id
    assert _stored_in(api, space, memory_id)
    assert not _stored_in(api, "default", memory_id)


def test_the_space_comes_from_the_variable_then_the_configured_default(engram, api, server, unique):
    from_env, from_config, flagged = f"{unique}-env", f"{unique}-conf", f"{unique}-flag"
    router = ["--router", server.router]
    _ok(engram("memory", "remember", "via the variable", "--id", "v1", *router, env={"ENGRAM_MEMORY_SPACE": from_env}))
    _ok(
        engram("memory", "remember", "via the config", "--id", "c1", *router, env={"ENGRAM_DEFAULT_SPACE": from_config})
    )
    _ok(engram("memory", "remember", "via the flag", "--id", "f1", "--space", flagged, *router,
               env={"ENGRAM_MEMORY_SPACE": from_env}))  # fmt: skip
    assert _stored_in(api, from_env, "v1") and not _stored_in(api, from_env, "f1")
    assert _stored_in(api, from_config, "c1")
    assert _stored_in(api, flagged, "f1")


def test_the_router_is_found_from_the_running_servers_data_directory(engram, api, server, unique):
    space = f"{unique}-piddir"
    out = _ok(engram("memory", "remember", "found by pid file", "--space", space, "--data-dir", str(server.data_dir)))
    assert f"in space '{space}'" in out
    assert api.list(space)["total"] == 1


def test_json_output_parses_for_every_memory_and_space_command(engram, server, unique):
    space = f"{unique}-json"
    target = ["--space", space, "--router", server.router, "--json"]
    stored = json.loads(_ok(engram("memory", "remember", "The mitochondria is the powerhouse of the cell", *target)))
    assert {"id", "confidence", "activation", "stored_at"} <= set(stored)
    recalled = json.loads(_ok(engram("memory", "recall", "mitochondria", *target)))
    assert [hit["memory"]["id"] for hit in recalled["hits"]] == [stored["id"]]
    listed = json.loads(_ok(engram("memory", "list", *target)))
    assert listed["total"] == 1 and listed["memories"][0]["content"].startswith("The mitochondria")
    found = json.loads(_ok(engram("memory", "search", "powerhouse", *target)))
    assert [m["id"] for m in found["memories"]] == [stored["id"]]
    record = json.loads(_ok(engram("memory", "get", stored["id"], *target)))
    assert len(record["embedding"]) == 768 and all(isinstance(x, float) for x in record["embedding"])

    router = ["--router", server.router, "--json"]
    created = json.loads(_ok(engram("space", "create", f"{unique}-made", "--dim", "16", *router)))
    assert created["created"] is True and created["space"]["dim"] == 16
    assert f"{unique}-made" in [s["id"] for s in json.loads(_ok(engram("space", "list", *router)))["spaces"]]
    detail = json.loads(_ok(engram("space", "show", space, *router)))
    assert (detail["id"], detail["memories"]) == (space, 1)
    assert json.loads(_ok(engram("memory", "delete", stored["id"], *target))) == {"id": stored["id"]}
    assert json.loads(_ok(engram("memory", "list", *target)))["total"] == 0


def test_tables_are_aligned_and_text_can_come_from_stdin(engram, server, unique):
    target = ["--space", f"{unique}-table", "--router", server.router]
    _ok(engram("memory", "remember", "-", "--id", "short", *target, stdin="a note\nread from stdin\n"))
    _ok(engram("memory", "remember", "a second, longer memory about tables", "--id", "a-much-longer-id", *target))
    header, *rows = _ok(engram("memory", "list", *target)).split("\n\n")[0].splitlines()
    assert header.split() == ["ID", "CONFIDENCE", "OBSERVED", "TAGS", "CONTENT"]
    content_at = header.index("CONTENT")
    assert sorted(row.split()[0] for row in rows) == ["a-much-longer-id", "short"]
    assert {row[content_at:] for row in rows} == {"a note read from stdin", "a second, longer memory about tables"}


def test_errors_print_code_message_and_hint_and_exit_non_zero(engram, server, unique):
    router = ["--router", server.router]
    missing = engram("memory", "get", "ghost", "--space", f"{unique}-err", *router)
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.startswith(
        f"engram: MEMORY_NOT_FOUND: Memory 'ghost' not found in memory space '{unique}-err'"
    )
    assert missing.stderr.rstrip().endswith(")")  # the hint, in parentheses
    bad_space = engram("memory", "list", "--space", "Not A Space", *router)
    assert bad_space.returncode == 1 and bad_space.stderr.startswith("engram: INVALID_MEMORY_SPACE_ID: ")
    usage = engram("memory", "recall", "--embedding", "not json", *router)
    assert usage.returncode == 2 and "JSON array" in usage.stderr


def test_config_show_reports_a_flag_an_env_var_and_a_file_value(engram, tmp_path):
    config_file = tmp_path / "engram.toml"
    config_file.write_text('[server]\nport = 9123\n[memory_spaces]\ndefault_space = "from-file"\n')
    args = ["config", "show", "--config", str(config_file), "--host", "0.0.0.0"]
    shown = json.loads(_ok(engram(*args, "--json", env={"ENGRAM_WORKERS": "3"})))
    assert shown["port"] == {"value": 9123, "source": "file", "origin": str(config_file)}
    assert shown["default_space"]["source"] == "file"
    assert shown["workers"] == {"value": 3, "source": "env", "origin": "ENGRAM_WORKERS"}
    assert shown["host"] == {"value": "0.0.0.0", "source": "flag", "origin": "--host"}
    assert shown["router"]["source"] == "default"
    assert shown["data_root"]["value"] == str(Path(tmp_path / "engram-data").resolve())

    rows = {line.split()[0]: line for line in _ok(engram(*args, env={"ENGRAM_WORKERS": "3"})).splitlines()}
    assert rows["port"].split()[1:] == ["9123", "file", str(config_file)]
    assert rows["workers"].split()[1:] == ["3", "env", "ENGRAM_WORKERS"]
    assert rows["host"].split()[1:] == ["0.0.0.0", "flag", "--host"]
    assert rows["router"].split()[1:] == ["tcp://127.0.0.1:7433", "default"]
