"""bench/fuzz.py reports a divergence with hypothesis' failing sequence instead of crashing the evidence suite, and
counts what it ran. A server that refuses connections is the divergence here: every step's request fails."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import fuzz, fuzz_machine  # noqa: E402


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_a_divergence_is_reported_with_its_failing_steps(tmp_path, monkeypatch):
    monkeypatch.setattr(fuzz_machine, "REGRESSIONS", tmp_path / "regressions")  # keep the repository's clean
    summary = fuzz.run_fuzz(f"http://127.0.0.1:{_closed_port()}", sequences=5, steps=5)
    assert summary["divergences"] == 1
    assert summary["divergence"].startswith("ConnectionError")
    assert "state = SpacesMachine()" in summary["divergence"]  # the shrunk sequence to replay by hand
    assert summary["sequences_run"] >= 1 and summary["requests"] >= 1
    assert any((tmp_path / "regressions").iterdir()), "the failing example must be saved for the tests to replay"
