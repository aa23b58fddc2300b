"""The space gate: at most ``limit`` requests of one space admitted at once, the rest held in order and admitted as
earlier ones are released; spaces never wait for each other; an expired wait leaves the gate consistent."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from router.fair import SpaceGate


def test_a_space_beyond_its_limit_waits_while_another_passes():
    gate: SpaceGate[str] = SpaceGate(2)
    assert gate.admit("busy") and gate.admit("busy")
    assert not gate.admit("busy")
    gate.hold("busy", 10.0, "busy-3")
    assert gate.admit("quiet")
    assert gate.waiting() == 1
    assert gate.release("busy") == "busy-3"  # admitted in the released one's place
    assert not gate.admit("busy")  # still two with the worker


def test_no_limit_admits_everything():
    gate: SpaceGate[str] = SpaceGate(0)
    assert all(gate.admit("busy") for _ in range(1000))


def test_expired_waits_are_removed_in_order_and_later_ones_still_follow():
    gate: SpaceGate[str] = SpaceGate(1)
    assert gate.admit("a")
    for number, deadline in enumerate((1.0, 2.0, 9.0)):
        assert not gate.admit("a")
        gate.hold("a", deadline, f"a{number}")
    assert list(gate.expired(2.5)) == ["a0", "a1"]
    assert gate.release("a") == "a2"
    assert gate.release("a") is None
    assert gate.admit("a")  # nothing admitted or waiting any more: the space passes again


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(1, 3),
    steps=st.lists(st.tuples(st.sampled_from(["arrive", "answer"]), st.sampled_from(["a", "b", "c"])), max_size=80),
)
def test_per_space_order_and_limit_hold_for_any_interleaving(limit, steps):
    gate: SpaceGate[int] = SpaceGate(limit)
    with_worker: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    sent: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    arrived: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    for number, (step, space) in enumerate(steps):
        if step == "arrive":
            arrived[space].append(number)
            if gate.admit(space):
                with_worker[space].append(number)
                sent[space].append(number)
            else:
                gate.hold(space, float("inf"), number)
        elif with_worker[space]:
            with_worker[space].pop(0)
            following = gate.release(space)
            if following is not None:
                with_worker[space].append(following)
                sent[space].append(following)
        for name in with_worker:
            assert len(with_worker[name]) <= limit
    for name in sent:
        assert sent[name] == arrived[name][: len(sent[name])]  # sent in arrival order, none skipped
        assert len(sent[name]) == len(arrived[name]) or len(with_worker[name]) == limit
