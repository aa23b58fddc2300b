"""Keeping a server process's start-up objects out of the garbage collector's full passes.

Why: CPython's cyclic collector stops the process for a full pass over every object it tracks, and a process
serves every request that reaches it from one thread. What a process imports before it serves (modules,
functions, classes of numpy, zmq, msgspec, falcon, prometheus_client and ours) lives until it exits, yet every
pass walked it again: about 35,000 objects in a worker, 24,000 in the router and 40,000 in an API process, 8-15 ms
per pass on their own, and over half of what a worker's passes walked in the evidence suite (docs/storage.md,
"Garbage collection"). ``gc.freeze()`` moves them to a permanent generation that no pass visits; objects created
afterwards are collected as before.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Collect what start-up left as garbage, then freeze every object alive now. Call once, just before serving."""
    gc.collect()
    gc.freeze()
