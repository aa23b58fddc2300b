"""engram.events.follow (blocking and asyncio) and the worker's EventLog: every event once, in order, whatever the
live socket drops."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

from hypothesis import given
from hypothesis import strategies as st

from engram.events import Event, EventBacklog, Follower, follow, follow_async, parse_id, topic
from workers.event_log import EventLog


def test_topics_never_prefix_each_other():
    assert not topic("alpha2").startswith(topic("alpha"))


def test_since_answers_after_the_id_or_the_whole_ring_for_a_foreign_id():
    log = EventLog(None)
    log.publish("alpha", [("stored", {"memory_id": f"m{i}"}) for i in range(5)])
    log.publish("beta", [("stored", {"memory_id": "b"})])
    everything = log.since("alpha", "").events
    assert [e.data["memory_id"] for e in everything] == [f"m{i}" for i in range(5)]
    assert {e.memory_space_id for e in everything} == {"alpha"}
    assert log.since("alpha", everything[1].id).events == everything[2:]
    assert log.since("alpha", "oldincarnation-3").events == everything
    assert log.since("alpha", None).events == []
    assert log.since("alpha", None).last_id == everything[-1].id


def _first(stream, count: int) -> list:
    """The first ``count`` items of a ``follow`` stream, or of a ``follow_async`` one (run to there)."""
    if isinstance(stream, AsyncIterator):

        async def take() -> list:
            items = []
            async for item in stream:
                items.append(item)
                if len(items) == count:
                    break
            return items

        return asyncio.run(take())
    return list(itertools.islice(stream, count))


@given(st.lists(st.booleans(), min_size=1, max_size=40), st.integers(0, 5), st.sampled_from(["blocking", "asyncio"]))
def test_follow_delivers_each_event_once_in_order_whatever_the_live_socket_drops(delivered, before, reader):
    """``delivered[i]``: whether the i-th event published after subscribing reached the socket live. The asyncio
    reader (``follow_async``) must deliver exactly what the blocking one does."""
    log = EventLog(None)
    log.publish("alpha", [("stored", {"n": -1 - i}) for i in range(before)])
    start = log.since("alpha", None)
    log.publish("alpha", [("stored", {"n": i}) for i in range(len(delivered))])
    live = iter([e for e, ok in zip(log.since("alpha", "").events[before:], delivered, strict=True) if ok])

    def receive(_timeout_s: float) -> Event | None:
        return next(live, None)

    def since(after: str | None) -> EventBacklog:
        return log.since("alpha", after)

    if reader == "blocking":
        stream = follow(receive, since, start, idle_s=0.01)
    else:

        async def receive_async(timeout_s: float) -> Event | None:
            return receive(timeout_s)

        async def since_async(after: str | None) -> EventBacklog:
            return since(after)

        stream = follow_async(receive_async, since_async, start, idle_s=0.01)
    got = [e for e in _first(stream, len(delivered) + 5) if e is not None]
    assert [e.data["n"] for e in got] == list(range(len(delivered)))
    assert [parse_id(e.id).seq for e in got] == list(range(before + 1, before + len(delivered) + 1))


def test_a_quiet_follower_asks_the_ring_then_sends_a_heartbeat_once_idle():
    """No live event: the follower asks the ring after each wait; a heartbeat comes only once ``idle_s`` passed."""
    log = EventLog(None)
    follower = Follower(log.since("alpha", None), idle_s=0.05)
    assert follower.take(None) is None
    assert follower.caught_up(log.since("alpha", follower.after), quiet=True) == []  # not idle long enough yet
    waited = follower.wait_s()
    assert 0 < waited <= 0.05
    time.sleep(0.06)  # the idle time itself is what is tested
    assert follower.caught_up(log.since("alpha", follower.after), quiet=True) == [None]
    log.publish("alpha", [("stored", {"n": 1})])
    missed = follower.caught_up(log.since("alpha", follower.after), quiet=True)
    assert [e.data["n"] for e in missed] == [1]
    assert follower.take(missed[0]) is False  # delivered from the ring: the same event arriving live is a duplicate
