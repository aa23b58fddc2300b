"""A worker SIGKILLed at random moments under concurrent writes to 20 spaces never loses an acknowledged write.

bench/crash_loop.py runs the same loop with 50 kills (the issue's figure); here a few kills keep the suite short.
"""

from __future__ import annotations

from bench.crash_loop import run_crash_loop


def test_random_worker_kills_under_writes_to_twenty_spaces_lose_no_acknowledged_write(make_server):
    running = make_server(workers=2)
    report = run_crash_loop(running.url, kills=6, spaces=20, writers=5, seed=7)
    assert report.lost == []
    assert report.acknowledged > 100
    kinds = report.acknowledged_by_kind  # every kind was written and checked: memories' and spaces' own
    assert set(kinds) == {"remember", "replace", "delete", "create_space", "delete_space"} and min(kinds.values()) > 0
    assert report.leaks == []
    assert len(report.recovery_s) == 6
