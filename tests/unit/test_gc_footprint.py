"""A space's memories add next to nothing for the garbage collector to walk: its full passes stop the worker
for a time that grows with the tracked objects, so they must grow with the spaces, not the memories
(docs/storage.md, "Garbage collection"). A real worker loop, space and log on disk."""

from __future__ import annotations

import gc

from engram import protocol as p
from engram.config import Config
from tests.unit.worker_frames import request_frames
from workers.loop import WorkerLoop

MEMORIES = 2000


def _remember(space: str, content: str, tags: list[str]) -> list[bytes]:
    request = p.Remember([p.MemoryIn(content, tags=tags, metadata={"source": "test"})])
    return request_frames(space, request, p.Placement(True, 8, 1.0, policy=p.SpacePolicy(durability="none")))


def test_memories_with_unique_words_tags_and_events_add_few_tracked_objects(tmp_path):
    loop = WorkerLoop(0, "tcp://127.0.0.1:1", Config(data_root=str(tmp_path)))
    try:
        loop._handle_batch([_remember("gc-space", "warm up the space", [])])
        gc.collect()
        before = len(gc.get_objects())
        for n in range(MEMORIES):  # a word of its own in each memory: one posting per memory
            loop._handle_batch([_remember("gc-space", f"note {n} about token{n}", ["t"] if n % 2 else [])])
        gc.collect()
        added = len(gc.get_objects()) - before
    finally:
        loop._close_all()
    assert added < MEMORIES // 10, f"{added} tracked objects for {MEMORIES} memories"
