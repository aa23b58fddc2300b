"""One fault of each kind (bench/chaos.py) under writes to many spaces: no acknowledged write is lost, no space shows
another's data, and an injected fsync error answers errors, never acknowledgements, in its space only.

bench/chaos.py runs the fuller, seeded sequence (docs/testing/memory_spaces.md); this keeps to one round.
"""

from __future__ import annotations

from bench import chaos_faults as cf
from bench.chaos import run_chaos


def test_one_fault_of_each_kind_loses_no_acknowledged_write_and_leaks_nothing():
    report = run_chaos(None, kills=len(cf.FAULT_KINDS), seed=11, spaces=12, writers=4)

    assert sorted(f.kind for f in report.faults) == sorted(cf.FAULT_KINDS)
    assert report.lost == []
    assert report.leaks == []
    assert report.acknowledged > 200
    for fault in report.faults:
        if fault.kind in cf.IO_KINDS:  # the faulted space failed, and only it
            assert fault.faulted_errors > 0, fault
            assert set(fault.faulted_codes) == {"STORAGE_UNAVAILABLE"}, fault
            assert fault.acked_under_fault == 0, fault
            assert fault.others_errors == 0, fault
            assert fault.others_requests > 0, fault
        if fault.kind == cf.WAL_KIND:
            assert fault.detected is True, fault
