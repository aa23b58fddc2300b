"""One fault of each kind (bench/chaos.py) under writes to many spaces: no acknowledged write is lost, no space shows
another's data, an injected fsync error answers errors, never acknowledgements, in its space only, and a real full
disk under one space's directory (root only) fails that space's writes and no other's.

bench/chaos.py runs the fuller, seeded sequence (docs/testing/memory_spaces.md); this keeps to one round.
"""

from __future__ import annotations

from bench import chaos_faults as cf
from bench.chaos import run_chaos
from bench.loop_disk import loop_disks_available


def test_one_fault_of_each_kind_loses_no_acknowledged_write_and_leaks_nothing():
    disks = loop_disks_available() is None  # disk_full needs a loop-device filesystem (root)
    kinds = [kind for kind in cf.FAULT_KINDS if disks or kind != cf.DISK_KIND]
    report = run_chaos(None, kills=len(kinds), seed=11, spaces=12, writers=4, kinds=kinds)

    assert sorted(f.kind for f in report.faults) == sorted(kinds)
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
        if fault.kind == cf.DISK_KIND:  # a real full disk: that space refused writes, the others did not notice
            assert fault.faulted_errors > 0, fault
            assert set(fault.faulted_codes) <= {"STORAGE_UNAVAILABLE"}, fault
            assert fault.others_errors == 0 and fault.others_requests > 0, fault
        if fault.kind == cf.WAL_KIND:
            assert fault.detected is True, fault
