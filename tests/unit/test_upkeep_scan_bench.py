"""bench/upkeep_scan.py runs at a tiny size and writes one row per count of used spaces."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import upkeep_scan  # noqa: E402


def test_upkeep_scan_writes_a_row_per_used_count(tmp_path, capsys):
    out = tmp_path / "upkeep_scan.json"
    assert upkeep_scan.main(["--spaces", "6", "--used", "0,3,9", "--repeats", "2", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [row["used_since_last_round"] for row in rows] == [0, 3, 6]  # at most every loaded space
    assert all(row["spaces_loaded"] == 6 and 0 < row["round_ms_median"] <= row["round_ms_max"] for row in rows)
    assert "| 6 | 3 |" in capsys.readouterr().out
