"""bench/log_prepare.py runs at a tiny size, writes a row per round and mode, extends logs in idle time only
with prepare on, and leaves no scratch spaces behind."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import log_prepare  # noqa: E402


def test_log_prepare_writes_a_row_per_round_and_mode(tmp_path, capsys):
    out = tmp_path / "log_prepare.json"
    argv = ["--spaces", "3", "--records", "30", "--dim", "768", "--rounds", "2", "--dir", str(tmp_path)]

    assert log_prepare.main([*argv, "--out", str(out)]) == 0

    rows = json.loads(out.read_text())["rows"]
    assert [(row["round"], row["prepare"]) for row in rows] == [(1, False), (1, True), (2, True), (2, False)]
    for row in rows:
        assert 0 < row["p50_us"] <= row["p99_us"]
        assert (row["extended_in_idle_time"] >= 3) == row["prepare"]  # 30 records run each space's log low on zeros
    assert "| 2 | on |" in capsys.readouterr().out
    assert not list(tmp_path.glob("log-prepare-*"))
