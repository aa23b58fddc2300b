"""bench/offload_pause.py runs at a tiny size, offloads every space both ways and writes both rows."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import offload_pause  # noqa: E402


def test_offload_pause_offloads_every_space_both_ways(tmp_path, capsys):
    out = tmp_path / "offload_pause.json"
    assert offload_pause.main(["--spaces", "2", "--memories", "700", "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    in_loop, with_children = written["in the loop"], written["child snapshots first"]
    assert in_loop["passes"] == 1 and with_children["passes"] >= 2  # the second waits for a child
    assert with_children["tail_bytes"] >= offload_pause.OFFLOAD_SNAPSHOT_MIN_BYTES
    assert "| child snapshots first |" in capsys.readouterr().out
