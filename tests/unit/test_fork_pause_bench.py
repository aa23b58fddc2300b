"""bench/fork_pause.py runs at a tiny size and writes one row per space count with both figures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import fork_pause  # noqa: E402


def test_fork_pause_writes_a_row_per_space_count(tmp_path, capsys):
    out = tmp_path / "fork_pause.json"
    assert fork_pause.main(["--spaces", "3,1", "--rows", "2", "--dim", "8", "--forks", "1", "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert [row["spaces"] for row in written["results"]] == [1, 3]
    assert all(row["hidden_ms"] > 0 and row["inherited_ms"] > 0 for row in written["results"])
    assert "| 3 |" in capsys.readouterr().out
