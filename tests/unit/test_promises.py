"""The check of a listing against acknowledged writes (bench/promises.py): no alarm for any listing a correct server
could show, and each kind of loss named when the listing breaks a promise."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bench.promises import (
    ABSENT,
    CREATE_SPACE,
    DELETE,
    DELETE_SPACE,
    EXISTS,
    REMEMBER,
    REPLACE,
    SPACE_KEY,
    Outcome,
    check,
    content,
)

SPACE = "alpha"


def write(memory_id: str, kind: str, version: int, sent: float, code: str = "OK", **extra: object) -> Outcome:
    return Outcome(SPACE, sent, sent + 0.5, code, memory_id, kind, version, **extra)  # type: ignore[arg-type]


def listing(**memories: str) -> dict[str, dict[str, str]]:
    return {SPACE: dict(memories)}


def test_a_listing_as_the_acknowledged_writes_left_it_passes():
    writes = [
        write("a", REMEMBER, 0, 1),
        write("a", REPLACE, 1, 2),
        write("b", REMEMBER, 0, 3),
        write("b", DELETE, 0, 4),
    ]
    assert check(listing(a=content(SPACE, "a", 1)), writes, checked_from=10) == []


def test_each_kind_of_loss_is_named():
    writes = [
        write("gone", REMEMBER, 0, 1),
        write("old", REMEMBER, 0, 2),
        write("old", REPLACE, 1, 3),
        write("back", REMEMBER, 0, 4),
        write("back", DELETE, 0, 5),
    ]
    shown = listing(old=content(SPACE, "old", 0), back=content(SPACE, "back", 0))
    found = {(f.memory_id, f.kind) for f in check(shown, writes, checked_from=10)}
    assert found == {("gone", "missing"), ("old", "stale"), ("back", "resurrected")}


def test_an_answer_that_shows_an_earlier_write_lost_is_a_loss():
    writes = [write("a", REMEMBER, 0, 1), write("a", DELETE, 0, 2, contradicts=True)]
    findings = check(listing(), writes, checked_from=10)
    assert [(f.memory_id, f.kind, f.acknowledged_at) for f in findings] == [("a", "contradicted", 2.5)]


def test_unknown_writes_may_or_may_not_have_landed():
    writes = [
        write("a", REMEMBER, 0, 1),
        write("a", REPLACE, 1, 2, code="CONNECTION"),
        write("b", REMEMBER, 0, 3),
        write("b", DELETE, 0, 4, code="STORAGE_UNAVAILABLE"),
    ]
    for a in (content(SPACE, "a", 0), content(SPACE, "a", 1)):
        for b in ({}, {"b": content(SPACE, "b", 0)}):
            assert check(listing(a=a, **b), writes, checked_from=10) == []


def test_writes_acknowledged_after_the_check_began_promise_nothing_yet():
    writes = [write("a", REMEMBER, 0, 1), write("b", REMEMBER, 0, 20)]
    assert check(listing(a=content(SPACE, "a", 0)), writes, checked_from=10) == []
    assert [f.memory_id for f in check(listing(), writes, checked_from=10)] == ["a"]


def test_excused_ids_are_not_checked():
    writes = [write("a", REMEMBER, 0, 1), write("b", REMEMBER, 0, 2)]
    assert [f.key for f in check(listing(), writes, checked_from=10, excused={f"{SPACE}/a"})] == [f"{SPACE}/b"]


def test_a_space_is_there_or_not_as_its_last_acknowledged_create_or_delete_left_it():
    created = [write(SPACE_KEY, CREATE_SPACE, 1, 1)]
    deleted = [*created, write(SPACE_KEY, DELETE_SPACE, 1, 2)]
    assert check(listing(**{SPACE_KEY: EXISTS}), created, checked_from=10) == []
    assert [f.kind for f in check(listing(), created, checked_from=10)] == ["missing"]
    assert check(listing(), deleted, checked_from=10) == []
    assert [f.kind for f in check(listing(**{SPACE_KEY: EXISTS}), deleted, checked_from=10)] == ["resurrected"]


def test_a_space_created_again_must_not_show_its_earlier_incarnation():
    writes = [
        write(SPACE_KEY, CREATE_SPACE, 1, 1),
        write("m1", REMEMBER, 1, 2),
        write("m2", REMEMBER, 1, 3),
        write(SPACE_KEY, DELETE_SPACE, 1, 4),
        write(SPACE_KEY, CREATE_SPACE, 2, 5),
        write("m1", REMEMBER, 2, 6),
    ]
    fresh = {SPACE_KEY: EXISTS, "m1": content(SPACE, "m1", 2)}
    assert check(listing(**fresh), writes, checked_from=10) == []
    old_data = {**fresh, "m1": content(SPACE, "m1", 1), "m2": content(SPACE, "m2", 1)}
    found = {(f.memory_id, f.kind) for f in check(listing(**old_data), writes, checked_from=10)}
    assert found == {("m1", "stale"), ("m2", "resurrected")}


def test_a_space_delete_without_an_answer_may_have_taken_its_memories_or_not():
    writes = [
        write(SPACE_KEY, CREATE_SPACE, 1, 1),
        write("m1", REMEMBER, 1, 2),
        write(SPACE_KEY, DELETE_SPACE, 1, 3, code="CONNECTION"),
    ]
    assert check(listing(), writes, checked_from=10) == []
    assert check(listing(**{SPACE_KEY: EXISTS, "m1": content(SPACE, "m1", 1)}), writes, checked_from=10) == []
    assert [f.kind for f in check(listing(**{SPACE_KEY: EXISTS}), writes, checked_from=10)] == ["missing"]


# A random history of one id: each write acknowledged or not; a correct server applies every acknowledged write
# and any of the others, in order. Whatever it then shows must pass; a state no write left must not.
histories = st.lists(
    st.tuples(st.sampled_from([REPLACE, DELETE]), st.booleans(), st.booleans()), min_size=0, max_size=8
)


@given(first_acked=st.booleans(), first_applied=st.booleans(), later=histories)
def test_any_state_a_correct_server_could_show_passes_and_no_other(first_acked, first_applied, later):
    writes = [write("a", REMEMBER, 0, 1, code="OK" if first_acked else "CONNECTION")]
    state = content(SPACE, "a", 0) if first_acked or first_applied else ABSENT
    version = 0
    for number, (kind, acked, applied) in enumerate(later, start=2):
        version += kind == REPLACE
        writes.append(write("a", kind, version, number, code="OK" if acked else "CONNECTION"))
        if acked or applied:
            state = writes[-1].state()
    shown = {} if state is ABSENT else {"a": state}
    assert check(listing(**shown), writes, checked_from=100) == []
    never_written = content(SPACE, "a", version + 1)
    promised = any(w.acknowledged for w in writes)
    assert bool(check(listing(a=never_written), writes, checked_from=100)) == promised


# A random life of one space: creates, remembers and deletes of the space, each answered, lost in flight (applied or
# not) or refused. A correct server applies what it acknowledged, deletes a space with all its memories at once, and
# refuses a remember to a space that is not there. Whatever it shows at the end must pass.
life_steps = st.lists(
    st.tuples(st.sampled_from([CREATE_SPACE, REMEMBER, DELETE_SPACE]), st.sampled_from(["m1", "m2"]), st.booleans()),
    max_size=12,
)


@given(steps=life_steps, unknown=st.lists(st.booleans(), min_size=12, max_size=12))
def test_any_life_of_a_space_a_correct_server_could_show_passes(steps, unknown):
    exists, memories, incarnation, writes = False, {}, 0, []
    for number, ((kind, memory_id, applied), lost_answer) in enumerate(zip(steps, unknown, strict=False), start=1):
        if kind == CREATE_SPACE:
            incarnation += not exists
            effect = True
        elif kind == REMEMBER:
            effect = exists  # refused otherwise: never acknowledged
        else:
            effect = True
        acknowledged = effect and not lost_answer
        if acknowledged or (effect and applied):
            if kind == CREATE_SPACE:
                exists = True
            elif kind == REMEMBER:
                memories[memory_id] = content(SPACE, memory_id, incarnation)
            else:
                exists, memories = False, {}
        key = memory_id if kind == REMEMBER else SPACE_KEY
        writes.append(write(key, kind, incarnation, number, code="OK" if acknowledged else "CONNECTION"))
    shown = {SPACE_KEY: EXISTS, **memories} if exists else {}
    assert check({SPACE: shown}, writes, checked_from=100) == []
