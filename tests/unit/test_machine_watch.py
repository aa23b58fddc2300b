"""bench/machine.py: the machine's busy and steal shares from /proc/stat readings, whole phase and worst sample."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.machine import MachineWatch, busy_text, read_cpu_times, shares, steal_text  # noqa: E402

TICKS = st.lists(st.integers(min_value=0, max_value=10**6), min_size=8, max_size=8)


def stat_line(times: list[int]) -> str:
    return "cpu  " + " ".join(str(t) for t in times) + " 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"


@given(TICKS, TICKS)
def test_shares_are_fractions_and_busy_counts_the_stolen_time(before, spent):
    after = [b + s for b, s in zip(before, spent, strict=True)]
    measured = shares(before, after)
    if sum(spent) == 0:
        assert measured is None
        return
    busy, steal = measured
    assert 0.0 <= steal <= busy <= 1.0
    assert busy == (sum(spent) - spent[3] - spent[4]) / sum(spent)
    assert steal == spent[7] / sum(spent)


def test_read_cpu_times_takes_the_first_eight_fields_of_the_cpu_line(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text(stat_line([10, 1, 5, 80, 2, 0, 1, 3]))
    assert read_cpu_times(str(stat)) == [10, 1, 5, 80, 2, 0, 1, 3]
    stat.write_text("cpu  1 2 3\n")  # too short: an unknown format, not a wrong figure
    assert read_cpu_times(str(stat)) is None
    assert read_cpu_times(str(tmp_path / "missing")) is None


def test_watch_reports_the_whole_block_and_its_worst_sample(tmp_path):
    """A block of three readings: a calm one, then one where the host took half the time; the worst sample shows
    the burst that the block's mean dilutes."""
    stat = tmp_path / "stat"
    stat.write_text(stat_line([0, 0, 0, 0, 0, 0, 0, 0]))
    watch = MachineWatch(str(stat), sample_s=3600)  # samples are taken by hand below, not by the clock
    with watch:
        stat.write_text(stat_line([50, 0, 0, 150, 0, 0, 0, 0]))  # 25% busy, no steal
        watch._take_sample()
        stat.write_text(stat_line([100, 0, 0, 200, 0, 0, 0, 100]))  # then 50 user + 50 idle + 100 steal
    figures = watch.figures()
    assert figures == {"busy": 0.5, "steal": 0.25, "worst_steal": 0.5}


def test_watch_without_proc_stat_reports_unknown_figures(tmp_path):
    with MachineWatch(str(tmp_path / "missing")) as watch:
        pass
    assert watch.figures() == {"busy": None, "steal": None, "worst_steal": None}


def test_watch_on_this_machine_measures_a_share():
    with MachineWatch(sample_s=0.01) as watch:
        busy_until = time.monotonic() + 0.2  # several clock ticks of CPU, so the block is not empty
        while time.monotonic() < busy_until:
            pass
    figures = watch.figures()
    if read_cpu_times() is None:  # not Linux: nothing to read
        assert figures["busy"] is None
    else:
        assert 0.0 < figures["busy"] <= 1.0 and 0.0 <= figures["steal"] <= figures["busy"]


def test_figures_read_as_shares_and_unknown_ones_as_a_dash():
    figures = {"busy": 0.914, "steal": 0.0123, "worst_steal": 0.17}
    assert (busy_text(figures), steal_text(figures)) == ("91%", "1.2% (17%)")
    unknown = {"busy": None, "steal": None, "worst_steal": None}
    assert busy_text(unknown) == steal_text(unknown) == busy_text(None) == steal_text({}) == "-"
