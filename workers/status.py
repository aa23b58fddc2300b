"""The figures a worker reports for ``status``: measured from the loaded ``Space`` and the loop's fsync state.

Only a loaded space can be measured without cost; the router reports the registry's other spaces as "offloaded".
Every figure is read at the moment of the request, never cached, so a status answer is as fresh as the batch it
arrives in (it runs after the batch's earlier requests, before their fsync).
"""

from __future__ import annotations

from engram import protocol as p
from workers.space import PRESSURE_CAPACITY_MEMORIES, Space


def space_status(
    space_id: str,
    space: Space,
    policy: p.SpacePolicy,
    unsynced_deadline: float | None,
    worker_id: int,
    now_monotonic: float,
) -> p.SpaceStatus:
    """One loaded space's status. ``unsynced_deadline`` is the loop's fsync deadline of an "interval" space written
    since its last fsync (monotonic seconds; None when nothing waits for an fsync)."""
    count = space.count
    return p.SpaceStatus(
        space=space_id,
        state=p.SPACE_LOADED,
        worker=worker_id,
        memories=count,
        pressure=count / PRESSURE_CAPACITY_MEMORIES,
        wal_lag_ms=wal_lag_ms(policy, unsynced_deadline, now_monotonic),
        consolidation_backlog=space.consolidation.backlog,
    )


def wal_lag_ms(policy: p.SpacePolicy, unsynced_deadline: float | None, now_monotonic: float) -> float | None:
    """Milliseconds since the oldest write of the space that is not fsynced yet.

    "fsync" spaces are fsynced before their batch is answered, so no acknowledged write waits: 0. An "interval"
    space's deadline was set at its first unsynced write plus the interval, so that write happened one interval
    before the deadline. "none" spaces are never fsynced by policy: there is no lag to measure (None).
    """
    if policy.durability == "none":
        return None
    if policy.durability == "fsync" or unsynced_deadline is None:
        return 0.0
    first_write = unsynced_deadline - policy.durability_interval_ms / 1000.0
    return max(0.0, (now_monotonic - first_write) * 1000.0)
