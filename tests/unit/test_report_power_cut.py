"""bench/report.py's power-cut section: the figures and their verdict when the cuts ran, and why not when a machine
had no loop device for them (bench/power_cut.py then writes only that reason)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="the report needs the bench extra (matplotlib)")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import report  # noqa: E402

RAN = {
    "cuts": 3,
    "spaces": 2,
    "durability": "fsync",
    "acknowledged_writes": 300,
    "unacknowledged_writes": 4,
    "lost_writes": 0,
    "cross_space_leaks": 0,
    "recovery_p50_s": 0.9,
    "recovery_max_s": 1.0,
    "snapshots_on_cut_disks": 2,
    "recovery_s": [0.9, 1.0, 0.8],
    "lost": [],
    "leaks": [],
}


def _section(page: str, heading: str) -> str:
    return dict(part.split("</h2>", 1) for part in page.split("<h2>")[1:])[heading]


def test_cuts_that_ran_show_their_figures_a_plot_and_a_passing_headline():
    page = report.render({"power_cut": RAN})
    section = _section(page, "Power cuts")
    assert "<svg" in section and "snapshots_on_cut_disks" in section and "Not run" not in section
    headline = _section(page, "Headline figures")
    assert "acknowledged writes lost over 3 power cuts" in headline and "pass" in headline
    assert "0 of 300" in headline


def test_the_headline_names_the_kinds_of_write_checked():
    kinds = {"remember": 200, "replace": 50, "delete": 50}
    headline = _section(report.render({"power_cut": {**RAN, "acknowledged_by_kind": kinds}}), "Headline figures")
    assert "0 of 300 (remember 200, replace 50, delete 50)" in headline


def test_a_lost_write_fails_the_headline():
    page = report.render({"power_cut": {**RAN, "lost_writes": 1, "lost": ["cut 2: cut-00/c1-w0-3"]}})
    assert "fail" in _section(page, "Headline figures")


def test_cuts_without_a_loop_device_say_why_they_did_not_run():
    page = report.render({"power_cut": {"unavailable": "power cuts need a loop-device filesystem: not root"}})
    section = _section(page, "Power cuts")
    assert "Not run" in section and "not root" in section
    assert "power cuts" not in _section(page, "Headline figures")


INTERVAL = {
    **RAN,
    "durability": "interval",
    "lost_writes": 2,
    "lost_ack_age_max_ms": 41.5,
    "lost_ack_age_bound_ms": 150.0,
}


def test_interval_cuts_pass_when_every_lost_write_was_acknowledged_within_the_bound():
    page = report.render({"power_cut_interval": INTERVAL})
    headline = _section(page, "Headline figures")
    assert "2 of 300 lost, the oldest acknowledged 41.5 ms before its cut" in headline and "pass" in headline
    assert "<svg" in _section(page, "Power cuts of interval spaces")


def test_interval_cuts_fail_when_an_older_write_was_lost():
    page = report.render({"power_cut_interval": {**INTERVAL, "lost_ack_age_max_ms": 900.0}})
    assert "fail" in _section(page, "Headline figures")
