"""The check of a listing against acknowledged writes (bench/promises.py): no alarm for any listing a correct server
could show, and each kind of loss named when the listing breaks a promise."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bench.promises import ABSENT, DELETE, REMEMBER, REPLACE, Outcome, check, content

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
    writes = [write("a", REMEMBER, 0, 1), write("a", DELETE, 0, 2, showed_missing=True)]
    findings = check(listing(), writes, checked_from=10)
    assert [(f.memory_id, f.kind, f.acknowledged_at) for f in findings] == [("a", "answered missing", 2.5)]


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
