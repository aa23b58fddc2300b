"""engram.events.follow and the worker's EventLog: every event once, in order, whatever the live socket drops."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from engram.events import Event, follow, parse_id, topic
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


@given(st.lists(st.booleans(), min_size=1, max_size=40), st.integers(0, 5))
def test_follow_delivers_each_event_once_in_order_whatever_the_live_socket_drops(delivered, before):
    """``delivered[i]``: whether the i-th event published after subscribing reached the socket live."""
    log = EventLog(None)
    log.publish("alpha", [("stored", {"n": -1 - i}) for i in range(before)])
    start = log.since("alpha", None)
    log.publish("alpha", [("stored", {"n": i}) for i in range(len(delivered))])
    live = iter([e for e, ok in zip(log.since("alpha", "").events[before:], delivered, strict=True) if ok])

    def receive(_timeout_s: float) -> Event | None:
        return next(live, None)

    stream = follow(receive, lambda after: log.since("alpha", after), start, idle_s=0.01)
    got = [e for e in itertools.islice(stream, len(delivered) + 5) if e is not None]
    assert [e.data["n"] for e in got] == list(range(len(delivered)))
    assert [parse_id(e.id).seq for e in got] == list(range(before + 1, before + len(delivered) + 1))
