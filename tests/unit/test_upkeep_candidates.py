"""The worker loop's periodic upkeep looks only at the spaces requests used since it last found them not due
(``WorkerLoop._snapshot_candidates``, ``_consolidation_candidates``): a space nothing used cannot have become due,
and looking at every loaded space held the loop for milliseconds with 1,000 of them (bench/upkeep_scan.py). Real
spaces and logs on disk; the loop runs in process without sockets."""

from __future__ import annotations

import time

import pytest

from engram import protocol as p
from engram.config import Config
from tests.unit.worker_frames import request_frames
from workers.consolidation import ConsolidationState
from workers.loop import WorkerLoop
from workers.space import Space

PLACEMENT = p.Placement(True, 4, 1.0)
EMBEDDING = b"\x00\x00\x80?" + b"\x00" * 12


def _remember(loop: WorkerLoop, space: str, content: str, *, episode: bool = False) -> None:
    memory = p.MemoryIn(content, embedding=EMBEDDING, episode=p.EpisodeContext(who=["tester"]) if episode else None)
    ((_ticket, reply),) = loop._handle_batch([request_frames(space, p.Remember([memory]), PLACEMENT)])
    assert p.REPLY_DECODER.decode(reply).error is None


def _upkeep(loop: WorkerLoop, wall: float) -> None:
    loop._keep_storage(time.monotonic())
    loop._consolidate_due(wall, time.monotonic() + 10.0)


@pytest.fixture
def loop(tmp_path) -> WorkerLoop:
    loop = WorkerLoop(0, "tcp://127.0.0.1:1", Config(data_root=str(tmp_path), consolidation_interval_s=60.0))
    yield loop
    loop._close_all()


def test_the_snapshot_check_looks_only_at_spaces_used_since_the_last_pass(loop, monkeypatch) -> None:
    for space in ("alpha", "beta", "gamma"):
        _remember(loop, space, f"{space} first")
    _upkeep(loop, time.time())
    assert loop._snapshot_candidates == {}  # none due: each is looked at again once a request uses it

    _remember(loop, "beta", "beta again")
    looked_at: list[str] = []
    real = Space.wal_bytes_since_snapshot
    monkeypatch.setattr(
        Space, "wal_bytes_since_snapshot", property(lambda self: looked_at.append(self.space_id) or real.fget(self))
    )
    _upkeep(loop, time.time())
    assert looked_at == ["beta"]


def test_a_space_due_for_a_snapshot_is_snapshotted_and_leaves_the_candidates(tmp_path) -> None:
    loop = WorkerLoop(0, "tcp://127.0.0.1:1", Config(data_root=str(tmp_path), snapshot_wal_bytes=1))
    try:
        _remember(loop, "alpha", "alpha first")
        assert "alpha" in loop._snapshot_candidates
        _upkeep(loop, time.time())
        assert loop._snapshot_candidates == {}
        loop._background.wait_all()
        assert list((tmp_path / "alpha" / "hot").glob("snapshot-*"))  # written by the background child
    finally:
        loop._close_all()


def test_a_changed_space_stays_a_consolidation_candidate_until_its_pass_ran(loop, monkeypatch) -> None:
    _remember(loop, "plain", "a memory, not an episode")
    _remember(loop, "diary", "an episode", episode=True)
    now = time.time()
    _upkeep(loop, now)  # diary's first pass runs at once; plain has nothing to consolidate
    assert loop._consolidation_candidates == {}
    _remember(loop, "diary", "another episode", episode=True)
    _upkeep(loop, now + 1.0)
    assert list(loop._consolidation_candidates) == ["diary"]  # changed, but its interval has not passed

    looked_at: list[str] = []
    real_due = ConsolidationState.due
    monkeypatch.setattr(ConsolidationState, "due", lambda self, now, interval: looked_at.append(now) or real_due(
        self, now, interval))  # fmt: skip
    _upkeep(loop, now + 61.0)  # the interval has passed: the pass runs
    assert len(looked_at) == 1  # only "diary" was looked at
    assert loop._consolidation_candidates == {}
    assert not loop._spaces["diary"].consolidation.changed_since_pass
