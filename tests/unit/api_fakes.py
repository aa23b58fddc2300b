"""A fake router gateway and canned protocol results for the REST edge's unit tests."""

from __future__ import annotations

import msgspec
from falcon import testing

from engram import protocol
from engram.errors import ErrorCode

OBSERVED_AT = 1704356100.0  # 2024-01-04T08:15:00Z
STORED_AT = 1761071358.5  # 2025-10-21T18:29:18.500000Z


def record(memory_id: str = "mem_1", confidence: float = 0.9, embedding: bytes | None = None) -> protocol.MemoryRecord:
    return protocol.MemoryRecord(
        memory_id,
        f"content of {memory_id}",
        confidence,
        OBSERVED_AT,
        STORED_AT,
        STORED_AT,
        "client",
        embedding,
        decay_rate=0.1,
    )


CANNED: dict[str, msgspec.Struct] = {
    "ping": protocol.Health("ok", [protocol.WorkerStatus(0, 4242, True, True, 0, 3)], 3),
    "create_space": protocol.SpaceCreated(True, protocol.SpaceSummary("alpha", 384, OBSERVED_AT)),
    "list_spaces": protocol.SpaceList(
        [protocol.SpaceSummary("zeta", 768, OBSERVED_AT), protocol.SpaceSummary("alpha", 384, STORED_AT)]
    ),
    "get_space": protocol.SpaceDetail("alpha", 384, OBSERVED_AT, 12, protocol.WorkerRef(1, 4243), segments=2, buffer=5),
    "remember": protocol.Remembered(
        [protocol.StoredMemory("mem_9579a7d2", 0.855, 0.85499, OBSERVED_AT, STORED_AT, False)]
    ),
    "recall": protocol.RecallResult(
        [protocol.Hit(record("mem_1", 0.9), 0.8, 0.8, 0.76), protocol.Hit(record("mem_2", 0.5), 0.6, 0.6, 0.45)], 7
    ),
    "get_memory": record(),
    "list_memories": protocol.MemoryPage([record("mem_1"), record("mem_2")], 42),
}


class FakeGateway:
    """Records every call and answers with a canned result, or raises what ``fail`` says for an op."""

    def __init__(self) -> None:
        self.calls: list[tuple[msgspec.Struct, str | None]] = []
        self.results: dict[str, msgspec.Struct] = dict(CANNED)
        self.fail: dict[str, Exception] = {}

    def call(self, request: protocol.Request, space: str | None) -> msgspec.Struct:
        self.calls.append((request, space))
        op = protocol.op_of(request)
        if op in self.fail:
            raise self.fail[op]
        return self.results[op]

    @property
    def last(self) -> tuple[msgspec.Struct, str | None]:
        return self.calls[-1]


def error_of(result: testing.Result, status: int, code: ErrorCode) -> dict[str, str]:
    assert result.status_code == status, result.text
    assert set(result.json) == {"error"}
    error = result.json["error"]
    assert set(error) == {"code", "message", "hint"}
    assert error["code"] == code.value
    return error
