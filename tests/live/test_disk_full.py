"""The whole data root on a small disk of its own, filled under writes of every kind and spaces created and
deleted, then emptied: the server answers STORAGE_UNAVAILABLE while it is full, keeps every write it acknowledged
(memories, replaces, deletes, spaces' creates and deletes), also after a restart reads it all back from the disk,
and serves again once there is room. Root only: the
disk is a loop-device filesystem (bench/loop_disk.py). bench/chaos.py's ``disk_full`` fills one space's disk."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import chaos_faults as cf  # noqa: E402
from bench.loop_disk import loop_disks_available, make_disk, mounted  # noqa: E402
from bench.writers import Writers, check_spaces  # noqa: E402
from engram.testing import RunningServer, wait_until  # noqa: E402

UNAVAILABLE = loop_disks_available()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"no loop-device filesystem here: {UNAVAILABLE}")
ROOT_DISK_BYTES = 48 * 1024 * 1024


def test_a_full_data_root_refuses_writes_keeps_what_it_acknowledged_and_serves_again(tmp_path):
    (tmp_path / "root").mkdir()
    make_disk(tmp_path / "root.img", ROOT_DISK_BYTES)
    with mounted(tmp_path / "root.img", tmp_path / "root") as root, RunningServer(root / "data", 1) as server:
        load = Writers(server.url, [f"full-{i}" for i in range(4)], 2, lifecycle_spaces=["full-life-0"])
        load.start()
        try:
            wait_until(lambda: load.total() >= 200, timeout_s=60, message="writes before the disk fills")
            filled_at = load.since(0.0)[-1].sent
            fillers = cf.fill_disk(root)
            try:
                wait_until(lambda: any(not o.acknowledged for o in load.since(filled_at)), 60, message="refused")
            finally:
                cf.empty_disk(fillers)
            emptied = load.since(0.0)[-1].sent
            wait_until(lambda: sum(o.acknowledged for o in load.since(emptied)) >= 50, 60, message="serving again")
            load.pause()
            findings, leaks = check_spaces(server.url, load.spaces, load.since(0.0))
            server.restart()  # and as the disk holds it: every space recovered from its files
            reopened, _ = check_spaces(server.url, load.spaces, load.since(0.0))
        finally:
            load.stop()
    refused = [o for o in load.since(filled_at) if not o.acknowledged]
    # a lifecycle write to a space whose create the full disk refused meets its delete: 410
    assert {o.code for o in refused} <= {"STORAGE_UNAVAILABLE", "MEMORY_SPACE_DELETED"}, refused[:5]
    assert findings == [] and leaks == [] and reopened == []
