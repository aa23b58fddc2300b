"""The pacer (router/pacing.py): a space sending most of the requests is paced only while the machine is busier
than the target and other spaces are active; its pace follows the CPU down and up and ends when it is alone, idle
or not using it. The CPU meter reads /proc/stat. And the space gate admits a paced space's requests no faster than
its pace, in order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.fair import SpaceGate
from router.pacing import ACTIVE_S, MAX_RAISE, MIN_PACE_RPS, RESUME_COUNT, RESUME_S, TICK_S, CpuMeter, Pacer

TARGET = 0.5
QUIET = {f"quiet-{n}": 5 for n in range(4)}  # 20 requests/s each over a tick


def pacer() -> Pacer:
    return Pacer(TARGET, lambda: None, now=0.0)


def test_a_space_alone_is_never_paced_even_on_a_saturated_machine():
    pace = pacer()
    for tick in range(1, 10):
        assert pace.decide(1.0, {"busy": 200}, TICK_S, tick * TICK_S) == {}
    assert pace.rates == {}


def test_a_hog_beside_quiet_spaces_is_paced_down_while_the_machine_is_busy_and_up_when_it_is_not():
    pace = pacer()
    changes = pace.decide(1.0, {"noisy": 200, **QUIET}, TICK_S, 1.0)
    assert set(changes) == {"noisy"}  # the quiet spaces are never paced
    assert changes["noisy"] <= 200 / TICK_S * 0.5  # saturated: cut by at least half
    first = changes["noisy"]
    second = pace.decide(0.7, {"noisy": int(first * TICK_S), **QUIET}, TICK_S, 1.25)["noisy"]
    assert second < first
    held = pace.decide(TARGET - 0.01, {"noisy": int(second * TICK_S), **QUIET}, TICK_S, 1.5)
    assert held == {}  # just under the target: kept
    raised = pace.decide(0.4, {"noisy": int(second * TICK_S), **QUIET}, TICK_S, 1.75)["noisy"]
    assert raised == pytest.approx(second * TARGET / 0.4)  # in proportion
    assert pace.decide(0.05, {"noisy": int(raised * TICK_S), **QUIET}, TICK_S, 2.0)["noisy"] == raised * MAX_RAISE


def test_the_pace_never_goes_below_the_floor():
    pace = pacer()
    for tick in range(1, 40):
        pace.decide(1.0, {"noisy": 30, **QUIET}, TICK_S, tick * TICK_S)
        assert pace.rates["noisy"] >= MIN_PACE_RPS


def test_the_pace_ends_when_the_space_is_alone_again():
    pace = pacer()
    pace.decide(1.0, {"noisy": 200, **QUIET}, TICK_S, 1.0)
    assert "noisy" in pace.rates
    assert pace.decide(1.0, {"noisy": 50}, TICK_S, 2.5) == {"noisy": None}  # the quiet spaces' last request: 1.5 s ago
    assert pace.rates == {}


def test_the_pace_ends_when_the_space_goes_idle_or_leaves_its_pace_unused():
    pace = pacer()
    pace.decide(1.0, {"noisy": 200, **QUIET}, TICK_S, 1.0)
    assert pace.decide(0.8, {"noisy": 1, **QUIET}, TICK_S, 1.25) == {"noisy": None}
    pace.decide(1.0, {"noisy": 200, **QUIET}, TICK_S, 1.5)
    rate = pace.rates["noisy"]
    used = int(rate * TICK_S * 0.3)  # sends a third of what it may, on a machine under its target
    assert pace.decide(0.3, {"noisy": used, **QUIET}, TICK_S, 1.75) == {"noisy": None}


def paced_then_idle(pace: Pacer) -> float:
    """Pace "noisy" beside the quiet spaces, then let its pace end because it sent nothing for a tick (at 1.25)."""
    rate = pace.decide(1.0, {"noisy": 200, **QUIET}, TICK_S, 1.0)["noisy"]
    assert pace.decide(0.3, dict(QUIET), TICK_S, 1.25) == {"noisy": None}
    return rate


def burst(pace: Pacer, space: str, now: float, requests: int = RESUME_COUNT) -> list[float | None]:
    return [pace.count(space, now) for _ in range(requests)]


def test_a_hog_that_went_idle_resumes_its_pace_when_it_returns_beside_active_spaces():
    pace = pacer()
    rate = paced_then_idle(pace)
    assert pace.rates == {}
    resumed = burst(pace, "noisy", 1.3)  # the quiet spaces sent within ACTIVE_S
    assert resumed == [None] * (RESUME_COUNT - 1) + [rate]  # at once, not two or three ticks later
    assert pace.rates == {"noisy": rate}
    assert pace.count("noisy", 1.3) is None  # resumed once; it is paced now


def test_a_pace_resumes_only_beside_others_within_its_time_and_for_a_burst():
    pace = pacer()
    rate = paced_then_idle(pace)
    alone = 1.25 + ACTIVE_S + 0.1  # nobody else sent for longer than ACTIVE_S
    assert burst(pace, "noisy", alone) == [None] * RESUME_COUNT
    pace.count("quiet-0", alone)  # company came back: the remembered pace is still there
    assert pace.count("noisy", alone) == rate

    trickle = pacer()
    paced_then_idle(trickle)
    trickle.count("quiet-0", 1.3)
    assert burst(trickle, "noisy", 1.3, RESUME_COUNT - 1) == [None] * (RESUME_COUNT - 1)
    trickle.tick(1.5)  # the counts start afresh each tick
    assert burst(trickle, "noisy", 1.6, RESUME_COUNT - 1) == [None] * (RESUME_COUNT - 1)

    late = pacer()
    paced_then_idle(late)
    late.count("quiet-0", 1.25 + RESUME_S + 0.1)
    assert burst(late, "noisy", 1.25 + RESUME_S + 0.1) == [None] * RESUME_COUNT


def test_a_pace_the_machine_no_longer_needed_is_not_resumed():
    for let_go in (
        {"noisy": 40, **{space: 40 for space in QUIET}},  # others send as much: no hog
        {"noisy": 5, **{space: 1 for space in QUIET}},  # 20 requests/s of a pace of 100 or more, on a cool machine
    ):
        pace = pacer()
        pace.decide(1.0, {"noisy": 200, **QUIET}, TICK_S, 1.0)
        assert pace.decide(0.3, let_go, TICK_S, 1.25) == {"noisy": None}
        assert burst(pace, "noisy", 1.3) == [None] * RESUME_COUNT


def test_even_spaces_are_not_hogs_of_each_other():
    pace = pacer()
    assert pace.decide(1.0, {"a": 100, "b": 100}, TICK_S, 1.0) == {}
    thousand = {f"s{n}": 1 for n in range(1000)}
    assert pace.decide(1.0, thousand, TICK_S, 1.25) == {}
    ten = {f"s{n}": 25 + n % 3 for n in range(10)}
    assert pace.decide(1.0, ten, TICK_S, 1.5) == {}


def test_nothing_is_paced_without_a_cpu_reading():
    pace = pacer()
    pace.decide(1.0, {"noisy": 200, **QUIET}, TICK_S, 1.0)
    assert pace.decide(None, {"noisy": 200, **QUIET}, TICK_S, 1.25) == {"noisy": None}
    assert pace.decide(None, {"noisy": 200, **QUIET}, TICK_S, 1.5) == {}


def test_tick_reads_the_cpu_once_a_tick_and_starts_counting_afresh():
    readings = iter([1.0, 1.0])
    pace = Pacer(TARGET, lambda: next(readings), now=0.0)
    for _ in range(200):
        pace.count("noisy", 0.1)
    for space in QUIET:
        pace.count(space, 0.1)
    assert pace.tick(TICK_S / 2) == {}  # not a tick yet: the CPU is not read
    assert "noisy" in pace.tick(TICK_S)
    assert pace.tick(2 * TICK_S) == {"noisy": None}  # counted afresh: it sent nothing this tick, so its pace ends
    assert pace.rates == {}


@settings(max_examples=150, deadline=None)
@given(
    ticks=st.lists(
        st.tuples(
            st.one_of(st.none(), st.floats(0.0, 1.0)),
            st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.integers(1, 300), max_size=4),
        ),
        max_size=30,
    )
)
def test_paces_stay_above_the_floor_and_only_spaces_with_company_are_paced(ticks):
    pace = pacer()
    for number, (busy, counts) in enumerate(ticks, start=1):
        changes = pace.decide(busy, counts, TICK_S, number * TICK_S)
        assert all(rate >= MIN_PACE_RPS for rate in pace.rates.values())
        assert set(pace.rates) <= set(counts)  # a space that sent nothing this tick is not paced
        if len(counts) == 1 and number == 1:
            assert pace.rates == {}
        for space, rate in changes.items():
            assert pace.rates.get(space) == rate


def test_the_cpu_meter_reads_busy_shares_from_proc_stat(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n")
    meter = CpuMeter(str(stat))
    stat.write_text("cpu  160 20 120 780 120 0 0 0 0 0\ncpu0 1 2 3 4\n")  # +100 busy, +100 idle or iowait
    assert meter.busy() == 0.5
    assert meter.busy() is None  # no time passed between the two readings
    assert CpuMeter(str(tmp_path / "missing")).busy() is None


def test_a_paced_space_is_admitted_no_faster_than_its_pace_and_in_order():
    now = [0.0]
    gate: SpaceGate[int] = SpaceGate(0, clock=lambda: now[0])
    gate.pace("busy", 10.0)  # one every 0.1 s
    assert gate.admit("busy")
    for number in range(1, 4):
        assert not gate.admit("busy")
        gate.hold("busy", 99.0, number)
    assert gate.admit("quiet")  # other spaces pass
    assert list(gate.due()) == []
    assert gate.next_turn() == 0.1
    now[0] = 0.1
    assert list(gate.due()) == [1]
    now[0] = 0.35  # late: the next two are due, at most one interval of credit
    assert list(gate.due()) == [2, 3]
    assert not gate.admit("busy")  # the credit is spent: the next turn is at 0.45
    now[0] = 0.45
    assert gate.admit("busy")


def test_ending_a_pace_lets_the_waiting_requests_go():
    now = [0.0]
    gate: SpaceGate[str] = SpaceGate(4, clock=lambda: now[0])
    gate.pace("busy", 1.0)
    assert gate.admit("busy")
    assert gate.release("busy") is None  # answered; nothing waits
    assert not gate.admit("busy")  # its next turn is 1 s away
    gate.hold("busy", 99.0, "second")
    assert gate.release("busy") is None
    gate.pace("busy", None)
    assert list(gate.due()) == ["second"]
    assert gate.admit("busy")


@settings(max_examples=150, deadline=None)
@given(
    limit=st.integers(0, 3),
    rate=st.sampled_from([5.0, 20.0, 100.0]),
    steps=st.lists(st.tuples(st.sampled_from(["arrive", "answer", "wait"]), st.floats(0.0, 0.2)), max_size=60),
)
def test_a_paced_space_keeps_its_order_limit_and_pace_for_any_interleaving(limit, rate, steps):
    now = [0.0]
    gate: SpaceGate[int] = SpaceGate(limit, clock=lambda: now[0])
    gate.pace("s", rate)
    with_worker: list[int] = []
    sent: list[tuple[float, int]] = []
    arrived: list[int] = []

    def send(number: int) -> None:
        with_worker.append(number)
        sent.append((now[0], number))

    for number, (step, wait) in enumerate(steps):
        now[0] += wait
        if step == "arrive":
            arrived.append(number)
            if gate.admit("s"):
                send(number)
            else:
                gate.hold("s", float("inf"), number)
        elif step == "answer" and with_worker:
            with_worker.pop(0)
            following = gate.release("s")
            if following is not None:
                send(following)
        for following in gate.due():
            send(following)
        assert limit == 0 or len(with_worker) <= limit
    assert [number for _, number in sent] == arrived[: len(sent)]  # in arrival order, none skipped
    interval = 1.0 / rate
    for (before, _), (after, _) in zip(sent, sent[2:], strict=False):
        assert after - before >= interval - 1e-9  # with one interval of credit at most, two sends span >= 1 interval


def test_a_tick_where_load_moves_from_many_spaces_to_few_paces_nobody():
    """The ticks of bench/fairness.py's overhead rounds: the last requests of 1,000 spaces beside the first of the
    next round's 10 spaces, or of its single space, on a busy machine."""
    winding_down = {f"old-{n}": 1 for n in range(100)}
    pace = pacer()
    assert pace.decide(0.9, {**winding_down, **{f"new-{n}": 13 for n in range(10)}}, TICK_S, 1.0) == {}
    assert pace.decide(0.9, {**winding_down, "one": 40}, TICK_S, 1.25) == {}
    assert pace.decide(0.9, {"one": 200}, TICK_S, 1.5) == {}  # then alone (the old spaces still seen within 1 s)


def test_a_paced_space_is_let_go_once_others_send_as_much():
    pace = pacer()
    pace.decide(1.0, {"noisy": 200, **QUIET}, TICK_S, 1.0)
    assert pace.decide(0.9, {"noisy": 40, **{space: 40 for space in QUIET}}, TICK_S, 1.25) == {"noisy": None}


def test_a_paced_space_at_its_limit_waits_for_an_answer_not_for_a_clock():
    now = [0.0]
    gate: SpaceGate[str] = SpaceGate(1, clock=lambda: now[0])
    gate.pace("busy", 100.0)
    assert gate.admit("busy")
    gate.hold("busy", 99.0, "second")
    now[0] = 1.0  # its turn has long come, but its one request is still with the worker
    assert gate.next_turn() is None  # so the router does not spin on a turn it cannot use
    assert list(gate.due()) == []
    assert gate.release("busy") == "second"
