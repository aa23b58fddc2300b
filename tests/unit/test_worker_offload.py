"""Offloading idle spaces never writes a snapshot in the worker's loop: a space with a long log tail gets its
snapshot from a child first and is closed on a later pass; one with a short tail is closed at once. Nothing it
acknowledged is lost either way (a real Space, WAL and forked child on disk)."""

from __future__ import annotations

import time

import zmq

from engram import protocol as p
from engram.config import Config
from tests.unit.worker_frames import request_frames
from workers import loop as loop_module
from workers import snapshot as snapshots
from workers.loop import WorkerLoop
from workers.space import Space

LONG_TAIL_MEMORIES = 40


def _remember(space: str, count: int) -> list[bytes]:
    memories = [
        p.MemoryIn(f"{space} fact {i}", id=f"m{i}", embedding=b"\x00\x00\x80?" + b"\x00" * 12) for i in range(count)
    ]
    return request_frames(space, p.Remember(memories))


def _listed(loop: WorkerLoop, space: str) -> int:
    [(_ticket, reply)] = loop._handle_batch([request_frames(space, p.ListMemories())])
    return p.decode_result("list_memories", p.REPLY_DECODER.decode(reply)).total


def test_an_idle_space_with_a_long_tail_is_snapshotted_by_a_child_before_it_is_offloaded(tmp_path, monkeypatch):
    loop = WorkerLoop(0, "tcp://127.0.0.1:1", Config(data_root=str(tmp_path), idle_offload_s=1.0))
    loop._handle_batch([_remember("long", LONG_TAIL_MEMORIES), _remember("short", 1)])
    tail = loop._spaces["long"].wal_bytes_since_snapshot
    monkeypatch.setattr(loop_module, "OFFLOAD_SNAPSHOT_MIN_BYTES", tail // 2)  # "short" stays below, "long" above
    monkeypatch.setattr(loop_module, "OFFLOAD_BUDGET_S", 60.0)  # one pass for both, however long the fork takes

    def snapshot_in_the_loop(self: Space) -> None:
        raise AssertionError(f"space {self.space_id} was snapshotted in the loop")

    monkeypatch.setattr(Space, "snapshot", snapshot_in_the_loop)
    idle = time.monotonic() + 10.0
    loop._keep_storage(idle)
    assert "short" not in loop._spaces  # a short tail: closed at once
    assert "long" in loop._spaces and loop._background.running("long")

    deadline = time.monotonic() + 30.0
    while "long" in loop._spaces and time.monotonic() < deadline:
        loop._keep_storage(idle)  # reaps the child once it ended, then closes the space
        time.sleep(0.01)
    assert "long" not in loop._spaces
    assert snapshots.generations(tmp_path / "long" / "hot")  # the child's snapshot is what the next open loads

    monkeypatch.undo()
    assert _listed(loop, "long") == LONG_TAIL_MEMORIES and _listed(loop, "short") == 1
    assert loop._spaces["long"].recovery.snapshot is not None
    loop._close_all()


def test_a_space_used_while_its_child_writes_stays_loaded(tmp_path, monkeypatch):
    loop = WorkerLoop(0, "tcp://127.0.0.1:1", Config(data_root=str(tmp_path), idle_offload_s=1.0))
    loop._handle_batch([_remember("busy", LONG_TAIL_MEMORIES)])
    monkeypatch.setattr(loop_module, "OFFLOAD_SNAPSHOT_MIN_BYTES", 1)
    loop._keep_storage(time.monotonic() + 10.0)
    assert loop._background.running("busy")
    assert _listed(loop, "busy") == LONG_TAIL_MEMORIES  # a request: the space is in use again
    loop._background.wait("busy")
    loop._keep_storage(time.monotonic())
    assert "busy" in loop._spaces
    loop._close_all()


def _episode(space: str, count: int) -> list[bytes]:
    at = p.EpisodeContext(where_location="harbour")
    memories = [
        p.MemoryIn(f"{space} met at the harbour {i}", episode=at, embedding=b"\x00\x00\x80?" + b"\x00" * 12)
        for i in range(count)
    ]
    return request_frames(space, p.Remember(memories))


def test_scheduled_consolidations_are_spread_over_passes_that_come_back_soon(tmp_path, monkeypatch):
    """Spaces written together fall due together; one pass of the loop runs them only up to its budget (here:
    one each) and the next pass comes ``UPKEEP_RECHECK_S`` later instead of a second later, until none is due."""
    loop = WorkerLoop(0, "tcp://127.0.0.1:1", Config(data_root=str(tmp_path)))
    spaces = [f"meet-{i}" for i in range(3)]
    loop._handle_batch([_episode(space, 3) for space in spaces])
    monkeypatch.setattr(loop_module, "CONSOLIDATION_BUDGET_S", 0.0)
    passes = 0
    while any(loop._spaces[space].consolidation.due(time.time(), 300.0) for space in spaces):
        loop._next_scheduled_check = 0.0
        started = time.monotonic()
        loop._run_scheduled_work()
        passes += 1
        due_left = sum(loop._spaces[space].consolidation.due(time.time(), 300.0) for space in spaces)
        assert due_left == len(spaces) - passes  # one space's pass each time, never none
        comes_back_in = loop._next_scheduled_check - started
        assert (
            comes_back_in < loop_module.SCHEDULED_CHECK_INTERVAL_S / 2
            if due_left
            else comes_back_in >= loop_module.SCHEDULED_CHECK_INTERVAL_S
        )
    assert passes == len(spaces)
    assert all(loop._spaces[space].consolidation.backlog == 0 for space in spaces)
    loop._close_all()


def test_offloads_are_spread_over_passes_that_come_back_soon(tmp_path, monkeypatch):
    """Spaces written together go idle together; one pass closes them only up to its budget (here: one each) and
    the next pass comes ``UPKEEP_RECHECK_S`` later instead of a second later, until none is left to close."""
    loop = WorkerLoop(0, "tcp://127.0.0.1:1", Config(data_root=str(tmp_path), idle_offload_s=1.0))
    spaces = [f"idle-{i}" for i in range(3)]
    loop._handle_batch([_remember(space, 1) for space in spaces])
    monkeypatch.setattr(loop_module, "OFFLOAD_BUDGET_S", 0.0)
    idle = time.monotonic() + 10.0
    for passes in range(1, len(spaces) + 1):
        loop._next_scheduled_check = idle + 5.0
        loop._keep_storage(idle)
        left = sum(space in loop._spaces for space in spaces)
        assert left == len(spaces) - passes  # one space closed each time, never none
        assert loop._next_scheduled_check == (idle + loop_module.UPKEEP_RECHECK_S if left else idle + 5.0)
    monkeypatch.undo()
    assert all(_listed(loop, space) == 1 for space in spaces)  # closed, not lost: each opens again from disk
    loop._close_all()


def test_upkeep_stops_for_a_waiting_request_after_one_step(tmp_path, monkeypatch):
    """A request waiting on the socket ends an upkeep pass after its first step, whatever budget is left: other
    spaces' offloads and consolidations must not hold a quiet space's request for the whole budget."""
    loop = WorkerLoop(0, "tcp://127.0.0.1:1", Config(data_root=str(tmp_path), idle_offload_s=1.0))
    idle_spaces, meeting_spaces = [f"idle-{i}" for i in range(3)], [f"meet-{i}" for i in range(3)]
    loop._handle_batch([_remember(space, 1) for space in idle_spaces])
    monkeypatch.setattr(loop_module, "OFFLOAD_BUDGET_S", 60.0)
    monkeypatch.setattr(loop_module, "CONSOLIDATION_BUDGET_S", 60.0)
    loop._requests_waiting = lambda: True

    idle = time.monotonic() + 10.0
    loop._keep_storage(idle)
    assert sum(space in loop._spaces for space in idle_spaces) == 2  # one closed, the rest on later passes
    assert loop._next_scheduled_check <= idle + loop_module.UPKEEP_RECHECK_S

    loop._handle_batch([_episode(space, 3) for space in meeting_spaces])
    assert loop._consolidate_due(time.time(), time.monotonic() + 60.0)  # due ones left over
    due = [loop._spaces[space].consolidation.due(time.time(), 300.0) for space in meeting_spaces]
    assert due.count(False) == 1

    loop._requests_waiting = lambda: False  # nothing waits: the budget alone bounds the pass
    loop._keep_storage(idle)
    assert not any(space in loop._spaces for space in idle_spaces)
    assert not loop._consolidate_due(time.time(), time.monotonic() + 60.0)
    loop._close_all()


def test_spaces_over_the_resident_cap_are_offloaded_even_while_requests_wait(tmp_path):
    loop = WorkerLoop(0, "tcp://127.0.0.1:1", Config(data_root=str(tmp_path), max_resident_spaces=1))
    spaces = [f"busy-{i}" for i in range(4)]
    loop._handle_batch([_remember(space, 1) for space in spaces])
    loop._requests_waiting = lambda: True

    loop._keep_storage(time.monotonic())

    assert len(loop._spaces) == 1  # the memory bound holds under load; only idle upkeep waits
    assert all(_listed(loop, space) == 1 for space in spaces)
    loop._close_all()


def test_readable_tells_whether_a_message_waits_on_a_real_socket():
    context = zmq.Context()
    receiver, sender = context.socket(zmq.PAIR), context.socket(zmq.PAIR)
    receiver.bind("inproc://upkeep-readable")
    sender.connect("inproc://upkeep-readable")
    try:
        assert not loop_module._readable(receiver)
        sender.send(b"request")
        deadline = time.monotonic() + 5.0
        while not loop_module._readable(receiver) and time.monotonic() < deadline:
            time.sleep(0.001)
        assert loop_module._readable(receiver)
        assert receiver.recv() == b"request"
        assert not loop_module._readable(receiver)
    finally:
        sender.close(linger=0)
        receiver.close(linger=0)
        context.term()
