"""bench/report.py's section of injected faults: a fault kind the harness could not run on that machine (disk_full
needs root and a loop device) is named with the reason, not silently left out."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="the report needs the bench extra (matplotlib)")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import report  # noqa: E402

FAULT = {
    "number": 1, "kind": "worker", "target": "worker 0 (pid 1)", "recovery_s": 0.3, "lost": [], "leaks": [],
    "acked_under_fault": 0, "faulted_errors": 0, "others_errors": 1, "others_requests": 9, "others_p99_ms": 12.0,
}  # fmt: skip
SUMMARY = {
    "faults_injected": 1, "by_kind": {"worker": 1}, "lost_writes": 0, "acked_under_io_fault": 0,
    "cross_space_leaks": 0, "baseline_p99_ms": 10.0,
}  # fmt: skip


def _section(page: str, heading: str) -> str:
    return dict(part.split("</h2>", 1) for part in page.split("<h2>")[1:])[heading]


def test_a_fault_kind_not_run_is_named_with_its_reason():
    why = {"disk_full": "no loop-device filesystem for it: mkfs.ext4 and losetup are needed"}
    chaos = {"summary": SUMMARY, "report": {"faults": [FAULT], "skipped_kinds": ["disk_full"], "skipped_why": why}}
    section = _section(report.render({"chaos": chaos}), "Injected faults")
    assert "Not run here: disk_full (no loop-device filesystem for it" in section


def test_every_kind_run_names_none():
    chaos = {"summary": SUMMARY, "report": {"faults": [FAULT], "skipped_kinds": [], "skipped_why": {}}}
    assert "Not run here" not in _section(report.render({"chaos": chaos}), "Injected faults")
