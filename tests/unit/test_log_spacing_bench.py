"""bench/log_spacing.py runs at a tiny size and writes one row per shape, each with figures of its own."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import log_spacing  # noqa: E402


def test_log_spacing_writes_a_row_per_shape(tmp_path, capsys):
    out = tmp_path / "log_spacing.json"
    argv = ["--records", "4", "--gaps-ms", "1", "--logs", "3", "--dir", str(tmp_path), "--out", str(out)]

    assert log_spacing.main(argv) == 0

    rows = json.loads(out.read_text())["rows"]
    shapes = ["back to back", "1 ms apart", "round robin over 3 logs", "round robin over 3 logs, 2 per sync"]
    assert [row["shape"] for row in rows] == [shape for shape in shapes for _ in (False, True)]
    assert [row["sync_overwrites"] for row in rows] == [False, True] * len(shapes)
    for row in rows:
        assert row["wall_us"] > 0 and row["cpu_us"] >= 0
        writes = row["block_writes_per_sync"]
        assert writes is None or writes >= 0
    assert "| 1 ms apart |" in capsys.readouterr().out
    assert not list(tmp_path.glob("log-spacing-*"))  # the scratch logs are gone


def test_the_device_counter_reader_counts_this_disks_writes(tmp_path):
    writes = log_spacing.device_writes_reader(tmp_path)
    if writes is None:  # tmpfs and the like have no block device counters: nothing to count
        device = os.stat(tmp_path).st_dev
        assert not Path(f"/sys/dev/block/{os.major(device)}:{os.minor(device)}/stat").exists()
        return
    before = writes()
    path = tmp_path / "synced"
    with path.open("wb") as handle:
        handle.write(os.urandom(8192))
        handle.flush()
        os.fsync(handle.fileno())
    assert writes() > before
