"""Starting servers: side by side, busy ports, and the data directory lock."""

from __future__ import annotations

import subprocess
import sys

from engram.testing import RunningServer
from tests.conftest import Api


def test_two_servers_run_side_by_side_with_separate_data(make_server, tmp_path):
    first = make_server(tmp_path / "one", workers=1)
    second = make_server(tmp_path / "two", workers=1)
    assert Api(first.url).remember("alpha", "only in the first server").status_code == 201
    assert Api(first.url).list("alpha")["total"] == 1
    assert Api(second.url).list("alpha")["total"] == 0
    assert (tmp_path / "one" / "alpha" / "wal").is_dir()
    assert not (tmp_path / "two" / "alpha").exists()


def _start_and_fail(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_a_busy_http_port_is_a_clear_error_not_a_hang(make_server, tmp_path):
    first = make_server(tmp_path / "one", workers=1)
    clash = RunningServer(tmp_path / "two", workers=1)
    clash.port = first.port
    result = _start_and_fail(clash.command())
    assert result.returncode != 0
    assert f"port {first.port} on 127.0.0.1 is already in use" in result.stderr
    assert "--port" in result.stderr


def test_a_data_directory_serves_one_server_at_a_time(make_server, tmp_path):
    make_server(tmp_path / "one", workers=1)
    clash = RunningServer(tmp_path / "one", workers=1)
    result = _start_and_fail(clash.command())
    assert result.returncode != 0
    assert "is in use by another Engram server" in result.stderr


def test_engram_stop_stops_the_server_on_a_data_directory(make_server, tmp_path):
    running = make_server(tmp_path / "data", workers=1)
    result = subprocess.run(
        [sys.executable, "-m", "engram", "stop", "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert running.process.wait(10) == 0
