"""Power cuts (bench/power_cut.py): a server whose disk keeps only what had been submitted to it when the power went
keeps every acknowledged write (remembers, replaces and deletes), spaces that sync within an interval lose only the
last moments before the cut, and spaces that acknowledge without syncing lose writes, which shows that the harness
sees a loss when there is one."""

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
    kinds = report.acknowledged_by_kind  # every kind was written and checked: memories' and spaces' own
    assert set(kinds) == {"remember", "replace", "delete", "create_space", "delete_space"} and min(kinds.values()) > 0
    assert report.lost == []
    assert report.leaks == []
    assert len(report.recovery_s) == 3  # a server started and served on every cut disk


def test_cuts_in_the_middle_of_writing_a_snapshot_lose_nothing():
    report = run_power_cuts(cuts=2, spaces=4, writers=2, seed=5, snapshot_share=1.0)
    assert report.timed_to_snapshots == 2  # each cut found a snapshot being written (and stopped it at a random
    # point of its writes or just after them: report.during_snapshots counts the first)
    assert report.lost == [] and report.leaks == []


def test_the_cuts_lose_the_writes_of_spaces_that_acknowledge_before_syncing():
    report = run_power_cuts(cuts=2, spaces=3, writers=2, seed=7, durability="none")
    assert report.acknowledged > 0
    assert report.lost  # acknowledged, never synced, gone with the power
    assert len(report.lost) <= report.acknowledged
    assert report.leaks == []


def test_interval_spaces_lose_only_writes_acknowledged_just_before_the_cut():
    report = run_power_cuts(cuts=2, spaces=3, writers=2, seed=7, durability="interval")
    assert report.acknowledged > 0 and report.leaks == []
    assert len(report.lost_ack_age_ms) == len(report.lost)
    # The contract is a sync within 50 ms of the write (the bench checks that bound, plus a loop pass); a test on a
    # shared machine checks the part no stall excuses: nothing acknowledged a second before a cut went with it.
    assert all(age < 1000.0 for age in report.lost_ack_age_ms), report.lost_ack_age_ms
