"""bench/wal_prewrite.py runs at a tiny size, writes one row per log count with both modes' figures, and leaves the
log's setting as it found it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import wal_prewrite  # noqa: E402
from workers import wal  # noqa: E402


def test_wal_prewrite_writes_a_row_per_log_count(tmp_path, capsys):
    out = tmp_path / "wal_prewrite.json"
    configured = wal.PREWRITE_BYTES
    argv = ["--records", "3", "--rounds", "1", "--logs", "2,1", "--dir", str(tmp_path), "--out", str(out)]

    assert wal_prewrite.main(argv) == 0

    rows = json.loads(out.read_text())["rows"]
    assert [row["logs"] for row in rows] == [2, 1]
    for row in rows:
        for mode in ("prewritten", "appended"):
            assert row[f"{mode}_wall_us"] > 0 and row[f"{mode}_cpu_us"] >= 0
        assert row["wall_ratio"] == round(row["prewritten_wall_us"] / row["appended_wall_us"], 3)
    assert "| 2 |" in capsys.readouterr().out
    assert configured == wal.PREWRITE_BYTES
    assert not list(tmp_path.glob("wal-prewrite-*"))  # the scratch logs are gone
