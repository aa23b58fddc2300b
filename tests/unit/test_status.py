"""The status fan-out's bookkeeping (router/status.py) and the worker's measured figures (workers/status.py)."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from engram import protocol as p
from router.placement import owner
from router.status import StatusFanOuts, merge
from workers.status import wal_lag_ms

WORKERS = [p.WorkerStatus(0, 100, True, True, 0, 0), p.WorkerStatus(1, 101, True, True, 0, 0)]


def _reply(*spaces: p.SpaceStatus) -> bytes:
    return p.ok_reply(1, p.SpaceStatusList(list(spaces)))


def _space_of(worker: int) -> str:
    return next(f"space{i}" for i in range(1000) if owner(f"space{i}", len(WORKERS)) == worker)


def test_the_fan_out_answers_only_when_every_worker_asked_has_replied():
    fanouts = StatusFanOuts()
    fanout_id, fanout = fanouts.open(b"client", 7, None)
    fanout.waiting |= {0, 1}
    assert fanouts.settle(fanout_id) is None
    assert fanouts.answered(fanout_id, 0, _reply()) is None
    done = fanouts.answered(fanout_id, 1, _reply())
    assert done is fanout and done.answered == {0, 1}
    assert fanouts.answered(fanout_id, 1, _reply()) is None  # closed: a late duplicate is ignored


def test_spaces_of_a_worker_that_died_or_is_late_are_unavailable_and_the_others_offloaded_or_measured():
    on_0, on_1 = _space_of(0), _space_of(1)
    measured = p.SpaceStatus(on_0, p.SPACE_LOADED, 0, 5, 5e-5, 0.0, 0)
    fanouts = StatusFanOuts()
    fanout_id, fanout = fanouts.open(b"client", 7, None)
    fanout.waiting |= {0, 1}
    fanouts.answered(fanout_id, 0, _reply(measured))
    done = fanouts.lost(fanout_id, 1)
    assert done is not None
    other_on_0 = next(f"x{i}" for i in range(1000) if owner(f"x{i}", 2) == 0)
    result = merge(done, {space: owner(space, 2) for space in (on_1, other_on_0, on_0)}, WORKERS)
    states = {s.space: (s.state, s.memories) for s in result.spaces}
    assert states == {on_0: ("loaded", 5), other_on_0: ("offloaded", None), on_1: ("unavailable", None)}
    assert [s.space for s in result.spaces] == sorted(states)


def test_a_fan_out_expires_after_its_wait():
    fanouts = StatusFanOuts()
    fanout_id, fanout = fanouts.open(b"client", 7, None)
    fanout.waiting.add(0)
    assert fanouts.expired(fanout.deadline - 0.001) == []
    assert fanouts.expired(fanout.deadline) == [fanout]
    assert fanouts.answered(fanout_id, 0, _reply()) is None


def test_a_worker_error_counts_as_no_figures():
    fanouts = StatusFanOuts()
    fanout_id, fanout = fanouts.open(b"client", 7, None)
    fanout.waiting.add(0)
    done = fanouts.answered(fanout_id, 0, p.error_reply(1, p.ErrorInfo("STORAGE_UNAVAILABLE", "disk")))
    assert done is not None and done.answered == set()
    assert merge(done, {_space_of(0): 0}, WORKERS).spaces[0].state == p.SPACE_UNAVAILABLE


def test_degraded_when_a_worker_is_not_ready():
    fanouts = StatusFanOuts()
    fanout_id, _ = fanouts.open(b"client", 7, None)
    done = fanouts.settle(fanout_id)
    assert done is not None
    workers = [WORKERS[0], msgspec.structs.replace(WORKERS[1], ready=False)]
    assert merge(done, {}, workers).status == "degraded"
    assert merge(done, {}, WORKERS).status == "ok"


@given(interval_ms=st.integers(1, 60_000), waited_s=st.floats(0, 120, allow_nan=False))
def test_interval_lag_is_the_time_since_the_first_unsynced_write(interval_ms, waited_s):
    policy = p.SpacePolicy(durability="interval", durability_interval_ms=interval_ms)
    first_write = 1000.0
    deadline = first_write + interval_ms / 1000.0
    lag = wal_lag_ms(policy, deadline, first_write + waited_s)
    assert abs(lag - waited_s * 1000.0) < 1e-6 * max(1.0, waited_s * 1000.0)


def test_fsync_spaces_have_no_lag_and_none_spaces_no_measure():
    assert wal_lag_ms(p.SpacePolicy(), None, 5.0) == 0.0
    assert wal_lag_ms(p.SpacePolicy(durability="interval"), None, 5.0) == 0.0  # nothing waits
    assert wal_lag_ms(p.SpacePolicy(durability="none"), None, 5.0) is None
