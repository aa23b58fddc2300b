"""Per-space limits and policies without a server: the router's token bucket (max_rps), the worker's memory and byte
quotas, and the worker loop's durability policies, delete and policy updates (a real Space and WAL on disk)."""

from __future__ import annotations

import itertools
import json
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engram import protocol as p
from engram.config import Config
from engram.errors import EngramError, ErrorCode
from engram.trash import TRASH_DIR
from router.rate_limits import RateLimits, TokenBucket
from workers import quotas
from workers.loop import WorkerLoop
from workers.space import Space

DIM = 4
_tickets = itertools.count(1)

# -- the token bucket (router) -------------------------------------------------------------------------------------


def test_a_bucket_lets_a_burst_of_its_rate_through_then_says_when_the_next_token_comes():
    bucket = TokenBucket(5.0, now=0.0)
    assert [bucket.take(0.0) for _ in range(5)] == [0.0] * 5
    assert bucket.take(0.0) == pytest.approx(0.2)
    assert bucket.take(0.1) == pytest.approx(0.1)  # half a token has come back meanwhile
    assert bucket.take(0.2) == 0.0


def test_a_rate_below_one_still_allows_one_request_then_waits_for_a_whole_token():
    bucket = TokenBucket(0.5, now=10.0)
    assert bucket.take(10.0) == 0.0
    assert bucket.take(10.0) == pytest.approx(2.0)
    assert bucket.take(12.0) == 0.0


def test_an_idle_bucket_fills_up_to_its_burst_only():
    bucket = TokenBucket(2.0, now=0.0)
    assert bucket.take(0.0) == bucket.take(0.0) == 0.0
    assert [bucket.take(1000.0) for _ in range(3)][:2] == [0.0, 0.0]
    assert bucket.take(1000.0) > 0.0


@given(
    rate=st.floats(0.1, 100.0),
    gaps=st.lists(st.floats(0.0, 0.5), min_size=1, max_size=200),
)
def test_a_bucket_never_admits_more_than_its_burst_plus_rate_times_elapsed_time(rate, gaps):
    bucket = TokenBucket(rate, now=0.0)
    now = admitted = 0.0
    for gap in gaps:
        now += gap
        wait = bucket.take(now)
        assert wait >= 0.0
        if wait == 0.0:
            admitted += 1
        else:
            assert wait <= 1.0 / rate + 1e-9
            assert bucket.take(now + wait + 1e-9) == 0.0  # the wait it names is enough
            now += wait + 1e-9
            admitted += 1
    assert admitted <= max(1.0, rate) + rate * now + 1e-6


def test_rate_limits_are_per_space_and_a_changed_quota_takes_effect_at_once():
    clock = SimpleNamespace(now=0.0)
    limits = RateLimits(clock=lambda: clock.now)
    for _ in range(3):
        limits.check("alpha", 3.0)
    with pytest.raises(EngramError) as caught:
        limits.check("alpha", 3.0)
    error = caught.value
    assert error.code is ErrorCode.QUOTA_EXCEEDED and error.http_status == 429
    assert error.retry_after_s == pytest.approx(1 / 3) and "max_rps" in error.hint
    for _ in range(100):
        limits.check("beta", 1000.0)  # another space's bucket is its own
        limits.check("gamma", None)  # no quota: never limited
    limits.check("alpha", 10.0)  # raised: a new, full bucket
    limits.forget("alpha")
    for _ in range(3):
        limits.check("alpha", 3.0)


# -- memory and byte quotas (worker) ---------------------------------------------------------------------------------


@pytest.fixture
def space(tmp_path):
    opened, _report = Space.open(tmp_path, "alpha", DIM, 1.0)
    yield opened
    opened.close()


def _memory(content: str, memory_id: str | None = None, **fields) -> p.MemoryIn:
    return p.MemoryIn(content, id=memory_id, **fields)


def test_max_memories_counts_new_ids_only_and_a_batch_as_a_whole(space):
    space.remember([_memory("one", "m1"), _memory("two", "m2")], 1.0)
    policy = p.SpacePolicy(max_memories=3)
    quotas.check_remember("alpha", policy, space, [_memory("one again", "m1"), _memory("three", "m3")])
    quotas.check_remember("alpha", policy, space, [_memory("x", "m3"), _memory("y", "m3")])  # one new id, twice
    with pytest.raises(EngramError) as caught:
        quotas.check_remember("alpha", policy, space, [_memory("three", "m3"), _memory("four")])
    error = caught.value
    assert error.code is ErrorCode.QUOTA_EXCEEDED and error.retry_after_s == quotas.QUOTA_RETRY_AFTER_S
    assert "3" in error.message and "PATCH /api/v1/spaces/alpha" in error.hint
    assert quotas.new_memories(space, [_memory("a"), _memory("b", "m1"), _memory("c", "new")]) == 2


def test_the_size_a_quota_check_counts_is_what_the_space_adds_once_the_memory_is_stored(space):
    memory = _memory("naïve café", "m1", tags=["ß", "tag"], metadata={"källa": "värde"})
    before = space.stored_bytes
    space.remember([memory], 1.0)
    assert space.stored_bytes - before == quotas.memory_bytes(memory, DIM)


def test_max_bytes_counts_every_memory_of_the_batch_against_what_is_stored(space, monkeypatch):
    one = quotas.memory_bytes(_memory("hello", tags=["t"], metadata={"k": "v"}), DIM)
    assert one == len("hello") + 4 * DIM + 1 + 2
    monkeypatch.setattr(Space, "stored_bytes", 100, raising=False)
    quotas.check_remember("alpha", p.SpacePolicy(max_bytes=100 + one), space, [_memory("hello", tags=["t"],
                          metadata={"k": "v"})])  # fmt: skip
    with pytest.raises(EngramError, match="bytes"):
        quotas.check_remember("alpha", p.SpacePolicy(max_bytes=100 + one - 1), space, [_memory("hello", tags=["t"],
                              metadata={"k": "v"})])  # fmt: skip


def test_no_quota_checks_nothing(space):
    quotas.check_remember("alpha", p.SpacePolicy(), space, [_memory(f"m{i}") for i in range(100)])


# -- the worker loop: durability policies, quotas, delete, policy updates ---------------------------------------------


DEFAULT_POLICY = p.SpacePolicy()


def _frames(space: str, request: p.Request, policy: p.SpacePolicy = DEFAULT_POLICY) -> list[bytes]:
    ticket = next(_tickets)
    header = p.Header(p.PROTOCOL_VERSION, ticket, p.op_of(request), space)
    placement = p.Placement(True, DIM, 1.0, policy=policy)
    return [ticket.to_bytes(8, "big"), p.ENCODER.encode(header), p.ENCODER.encode(request), p.ENCODER.encode(placement)]


def _replies(loop: WorkerLoop, batch: list[list[bytes]]) -> list[p.Reply]:
    return [p.REPLY_DECODER.decode(reply) for _ticket, reply in loop._handle_batch(batch)]


def _remember(content: str, memory_id: str) -> p.Remember:
    return p.Remember([p.MemoryIn(content, id=memory_id, embedding=b"\x00\x00\x80?" + b"\x00" * 12)])


@pytest.fixture
def loop(tmp_path) -> WorkerLoop:
    running = WorkerLoop(0, "tcp://127.0.0.1:1", Config(data_root=str(tmp_path)))
    yield running
    running._close_all()


@pytest.fixture
def synced(monkeypatch) -> list[str]:
    calls: list[str] = []
    real_sync = Space.sync
    monkeypatch.setattr(Space, "sync", lambda self, **how: (calls.append(self.space_id), real_sync(self, **how))[1])
    return calls


def test_fsync_spaces_sync_before_the_reply_and_none_spaces_never(loop, synced):
    none = p.SpacePolicy(durability="none")
    replies = _replies(loop, [_frames("alpha", _remember("a", "a")), _frames("beta", _remember("b", "b"), none)])
    assert [r.error for r in replies] == [None, None]
    assert synced == ["alpha"]
    assert not loop._unsynced


def test_interval_spaces_answer_at_once_and_are_synced_by_their_deadline(loop, synced, monkeypatch):
    interval = p.SpacePolicy(durability="interval", durability_interval_ms=40)
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr("workers.loop.time.monotonic", lambda: clock.now)
    replies = _replies(loop, [_frames("alpha", _remember(f"a{i}", f"a{i}"), interval) for i in range(3)])
    assert [r.error for r in replies] == [None] * 3 and synced == []
    assert loop._poll_timeout_ms() == 40  # the idle loop wakes for the deadline
    clock.now += 0.039
    loop._sync_due()
    assert synced == []
    clock.now += 0.002
    loop._sync_due()
    assert synced == ["alpha"] and not loop._unsynced
    assert loop._poll_timeout_ms() > 40


def test_the_memory_quota_refuses_a_batch_that_would_pass_it_and_spares_other_spaces(loop):
    quota = p.SpacePolicy(max_memories=1)
    assert _replies(loop, [_frames("alpha", _remember("one", "m1"), quota)])[0].error is None
    replies = _replies(
        loop,
        [
            _frames("alpha", p.Remember([_memory("two", "m2"), _memory("three", "m3")]), quota),
            _frames("alpha", _remember("one, replaced", "m1"), quota),  # full, but a replacement adds nothing
            _frames("beta", p.Remember([_memory(f"b{i}") for i in range(5)])),
        ],
    )
    assert [r.error.code if r.error else None for r in replies] == ["QUOTA_EXCEEDED", None, None]
    assert replies[0].error.retry_after_s == quotas.QUOTA_RETRY_AFTER_S
    listed = p.decode_result("list_memories", _replies(loop, [_frames("alpha", p.ListMemories(), quota)])[0])
    assert sorted(m.id for m in listed.memories) == ["m1"]


def test_delete_space_moves_the_directory_away_and_the_space_comes_back_empty(loop, tmp_path):
    assert _replies(loop, [_frames("alpha", _remember("secret", "s1"))])[0].error is None
    reply = _replies(loop, [_frames("alpha", p.DeleteSpace())])[0]
    assert reply.error is None and p.decode_result("delete_space", reply) == p.SpaceDeleted("alpha")
    assert not (tmp_path / "alpha").exists() and "alpha" not in loop._spaces
    assert (tmp_path / TRASH_DIR).is_dir()
    again = _replies(loop, [_frames("alpha", p.DeleteSpace())])[0]  # idempotent: the router may send it again
    assert again.error is None
    listed = p.decode_result("list_memories", _replies(loop, [_frames("alpha", p.ListMemories())])[0])
    assert listed.total == 0


def test_a_policy_update_is_written_to_space_json_only_when_it_changes(loop, tmp_path, monkeypatch):
    assert _replies(loop, [_frames("alpha", _remember("a", "a"))])[0].error is None
    settings = tmp_path / "alpha" / "space.json"
    policy = p.SpacePolicy(durability="interval", max_memories=10)
    reply = _replies(loop, [_frames("alpha", p.UpdateSpace(p.SpacePolicyPatch()), policy)])[0]
    assert p.decode_result("update_space", reply).policy == policy
    assert json.loads(settings.read_text())["policy"]["max_memories"] == 10
    writes: list[str] = []
    monkeypatch.setattr("workers.layout.write_atomic", lambda path, data: writes.append(str(path)))
    _replies(loop, [_frames("alpha", p.ListMemories(), policy), _frames("alpha", p.GetSpace(), policy)])
    assert writes == []
