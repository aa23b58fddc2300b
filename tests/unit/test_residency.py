"""The residency policy offloads idle and least recently used spaces, never a recent one before an older one, and
demotes offloaded spaces' files as they stay unused."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from workers.residency import Residency, ResidencyLimits

LIMITS = ResidencyLimits(idle_offload_s=300.0, max_resident_spaces=3, warm_after_s=1000.0, cold_after_s=5000.0)


def residency(limits: ResidencyLimits = LIMITS) -> Residency:
    return Residency(limits)


def test_an_idle_space_is_offloaded_and_a_used_one_is_not() -> None:
    policy = residency()
    policy.used("old", 0.0)
    policy.used("fresh", 250.0)

    assert policy.to_offload(299.0) == []
    assert policy.to_offload(301.0) == ["old"]
    assert policy.to_offload(551.0) == ["old", "fresh"]


def test_beyond_the_resident_bound_the_least_recently_used_go_first() -> None:
    policy = residency()
    for t, space_id in enumerate(["a", "b", "c", "d", "e"]):
        policy.used(space_id, float(t))
    policy.used("a", 10.0)  # a is the most recent now

    assert policy.to_offload(11.0) == ["b", "c"]


def test_offloaded_spaces_are_demoted_warm_then_cold_and_reloading_stops_that() -> None:
    policy = residency()
    policy.used("s", 0.0)
    policy.offloaded("s")
    assert policy.loaded == [] and policy.tier("s") == "hot"

    assert policy.to_demote(999.0) == []
    assert policy.to_demote(1001.0) == [("s", "warm")]
    policy.demoted("s", "warm")
    assert policy.to_demote(4000.0) == []
    assert policy.to_demote(5001.0) == [("s", "cold")]
    policy.demoted("s", "cold")
    assert policy.to_demote(1e9) == []

    policy.used("s", 1e9)
    assert policy.loaded == ["s"] and policy.tier("s") is None and policy.to_demote(2e9) == []


def test_a_space_idle_past_both_limits_goes_straight_to_cold() -> None:
    policy = residency()
    policy.known_on_disk("s", last_used=0.0, tier="hot")

    assert policy.to_demote(10_000.0) == [("s", "cold")]


def test_forgotten_spaces_are_never_chosen() -> None:
    policy = residency()
    policy.used("gone", 0.0)
    policy.known_on_disk("gone-too", 0.0, "hot")
    policy.forget("gone")
    policy.forget("gone-too")

    assert policy.to_offload(1e9) == [] and policy.to_demote(1e9) == []


events = st.lists(
    st.tuples(st.sampled_from(["s0", "s1", "s2", "s3", "s4", "s5", "s6"]), st.floats(0.0, 2000.0)), max_size=40
)


@given(events=events, now_after=st.floats(0.0, 2000.0), max_resident=st.integers(1, 5))
def test_after_offloading_what_it_chooses_at_most_the_bound_stay_and_only_the_least_recent_went(
    events: list[tuple[str, float]], now_after: float, max_resident: int
) -> None:
    policy = residency(ResidencyLimits(300.0, max_resident, 1000.0, 5000.0))
    last_used: dict[str, float] = {}
    for space_id, at in sorted(events, key=lambda e: e[1]):
        policy.used(space_id, at)
        last_used[space_id] = at
    now = max([0.0, *last_used.values()]) + now_after

    chosen = policy.to_offload(now)
    for space_id in chosen:
        policy.offloaded(space_id)

    stayed = policy.loaded
    assert len(stayed) <= max_resident
    assert set(chosen) | set(stayed) == set(last_used) and not set(chosen) & set(stayed)
    assert all(now - last_used[s] <= 300.0 for s in stayed)  # nothing idle stays
    if chosen and stayed:  # never a recently used space before an older one
        assert max(last_used[s] for s in chosen) <= min(last_used[s] for s in stayed)
    assert [last_used[s] for s in chosen] == sorted(last_used[s] for s in chosen)
    # and nothing is chosen that need not be: without idle spaces, exactly the excess goes
    if all(now - t <= 300.0 for t in last_used.values()):
        assert len(chosen) == max(0, len(last_used) - max_resident)


@given(
    idle=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.floats(0.0, 10_000.0), min_size=1),
    tiers=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["hot", "warm", "cold"])),
)
def test_demotion_only_ever_makes_files_colder_and_follows_the_idle_times(
    idle: dict[str, float], tiers: dict[str, str]
) -> None:
    policy = residency()
    now = 20_000.0
    for space_id, idle_s in idle.items():
        policy.known_on_disk(space_id, now - idle_s, tiers.get(space_id, "hot"))  # type: ignore[arg-type]

    due = dict(policy.to_demote(now))

    depth = {"hot": 0, "warm": 1, "cold": 2}
    for space_id, idle_s in idle.items():
        current = tiers.get(space_id, "hot")
        wanted = "cold" if idle_s > 5000.0 else "warm" if idle_s > 1000.0 else "hot"
        if depth[wanted] > depth[current]:
            assert due[space_id] == wanted
        else:
            assert space_id not in due
