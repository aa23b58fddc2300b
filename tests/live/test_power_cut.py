"""Power cuts (bench/power_cut.py): a server whose disk keeps only what had been submitted to it when the power went
keeps every acknowledged write, and the same cuts lose the writes of spaces that acknowledge before syncing, which
shows that the harness sees a loss when there is one."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.power_cut import loop_disks_available, run_power_cuts  # noqa: E402

UNAVAILABLE = loop_disks_available()
pytestmark = pytest.mark.skipif(UNAVAILABLE is not None, reason=f"no loop-device filesystem here: {UNAVAILABLE}")


def test_every_acknowledged_write_survives_each_power_cut():
    report = run_power_cuts(cuts=3, spaces=4, writers=2, seed=7)
    assert report.acknowledged >= 3 * 50  # each round wrote at least its minimum before the cut
    assert report.lost == []
    assert report.leaks == []
    assert len(report.recovery_s) == 3  # a server started and served on every cut disk


def test_the_cuts_lose_the_writes_of_spaces_that_acknowledge_before_syncing():
    report = run_power_cuts(cuts=2, spaces=3, writers=2, seed=7, durability="none")
    assert report.acknowledged > 0
    assert report.lost  # acknowledged, never synced, gone with the power
    assert len(report.lost) <= report.acknowledged
    assert report.leaks == []
