"""The worker loop's group commit: one batch, one fsync per written space, no reply before it, and an fsync
failure answered as an error to the write and to every request of its space after it in the batch (a real Space
and WAL on disk)."""

from __future__ import annotations

import pytest

from engram import protocol as p
from engram.config import Config
from tests.unit.worker_frames import request_frames
from workers.loop import WorkerLoop
from workers.space import Space


def _replies(loop: WorkerLoop, batch: list[list[bytes]]) -> list[p.Reply]:
    return [p.REPLY_DECODER.decode(reply) for _ticket, reply in loop._handle_batch(batch)]


@pytest.fixture
def loop(tmp_path) -> WorkerLoop:
    return WorkerLoop(0, "tcp://127.0.0.1:1", Config(data_root=str(tmp_path)))


def _remember(content: str, memory_id: str) -> p.Remember:
    return p.Remember([p.MemoryIn(content, id=memory_id, embedding=b"\x00\x00\x80?" + b"\x00" * 12)])


def test_a_batch_is_fsynced_once_per_written_space_before_any_reply(loop, monkeypatch):
    synced: list[str] = []
    real_sync = Space.sync
    monkeypatch.setattr(Space, "sync", lambda self, **how: (synced.append(self.space_id), real_sync(self, **how))[1])
    batch = [request_frames("alpha", _remember(f"a{i}", f"a{i}")) for i in range(3)] + [
        request_frames("beta", _remember("b", "b"))
    ]
    replies = _replies(loop, batch)
    assert [r.error for r in replies] == [None] * 4
    assert sorted(synced) == ["alpha", "beta"]


def test_an_fsync_failure_fails_the_write_and_every_later_request_of_its_space_in_the_batch(loop, monkeypatch):
    assert _replies(loop, [request_frames("alpha", _remember("kept", "kept"))])[0].error is None

    def failing_sync(self: Space, **_how: bool) -> None:
        if self.space_id == "alpha":
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(Space, "sync", failing_sync)
    batch = [
        request_frames("alpha", p.ListMemories()),  # before the write: it saw only durable data
        request_frames("alpha", _remember("lost", "lost")),
        request_frames("alpha", p.ListMemories()),  # after it: it would list the write the disk never got
        request_frames("beta", _remember("fine", "fine")),
    ]
    replies = _replies(loop, batch)
    codes = [r.error.code if r.error else None for r in replies]
    assert codes == [None, "STORAGE_UNAVAILABLE", "STORAGE_UNAVAILABLE", None]
    monkeypatch.undo()
    # alpha was dropped from memory and reopens from its log: the acknowledged write is there.
    listed = _replies(loop, [request_frames("alpha", p.GetMemory("kept"))])[0]
    assert listed.error is None and p.decode_result("get_memory", listed).content == "kept"


def test_requests_arriving_while_a_write_batch_is_handled_join_it_before_its_one_fsync(loop, monkeypatch):
    synced: list[str] = []
    real_sync = Space.sync
    monkeypatch.setattr(Space, "sync", lambda self, **how: (synced.append(self.space_id), real_sync(self, **how))[1])
    late = [[request_frames("alpha", _remember("late", "late")), request_frames("alpha", p.ListMemories())], []]
    asked: list[int] = []

    def arrived(room: int) -> list[list[bytes]]:
        asked.append(room)
        return late.pop(0)

    replies = [
        p.REPLY_DECODER.decode(reply)
        for _ticket, reply in loop._handle_batch([request_frames("alpha", _remember("first", "first"))], arrived)
    ]
    assert [r.error for r in replies] == [None] * 3
    assert synced == ["alpha"]  # one fsync for the first write and the one that joined
    listed = p.decode_result("list_memories", replies[2])
    assert {m.id for m in listed.memories} == {"first", "late"}  # handled in arrival order, after the first
    assert asked == [255, 253]  # asked again until nothing more came


def test_a_batch_without_an_fsync_to_do_answers_at_once_without_taking_more(loop):
    assert _replies(loop, [request_frames("alpha", _remember("stored", "stored"))])[0].error is None
    asked: list[int] = []
    replies = loop._handle_batch([request_frames("alpha", p.ListMemories())], lambda room: asked.append(room) or [])
    assert len(replies) == 1
    assert asked == []
