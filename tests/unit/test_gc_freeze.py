"""engram/gc_freeze.py: after start-up, a process's full garbage-collection passes walk only what it created
since, not the modules and classes it imported (docs/storage.md, "Garbage collection"). Run in a fresh
interpreter, so this test process's own objects stay as they are."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json
import workers.loop  # a worker's imports
from engram.gc_freeze import freeze_startup_objects
gc.collect()
before = len(gc.get_objects())
freeze_startup_objects()
kept = [object() for _ in range(10)]  # plain objects are not tracked; these lists are
made = [[n] for n in range(500)]
print(json.dumps({"before": before, "after": len(gc.get_objects()), "frozen": gc.get_freeze_count()}))
"""


def test_start_up_objects_are_frozen_and_later_ones_still_tracked():
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    counts = json.loads(run.stdout)
    assert counts["before"] > 10_000  # the imports alone
    assert counts["frozen"] >= counts["before"] - 50  # all of them out of the passes, less a few freed by the collect
    assert 500 <= counts["after"] < 1_000  # what the passes still walk: the 500 lists made since, and little else
