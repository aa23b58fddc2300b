"""bench/load_stats.median_interval: the distribution-free interval for the median that the overhead figure is given
with (bench/fairness.py), checked against exact binomial sums and by simulation."""

from __future__ import annotations

import random
import statistics
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.load_stats import interval_text, median_interval  # noqa: E402


def test_eight_rounds_give_the_second_and_seventh_at_93_percent():
    rounds = [0.96, 1.17, 0.99, 0.81, 0.93, 1.19, 0.77, 0.67]
    assert median_interval(rounds) == {"low": 0.77, "high": 1.17, "coverage": round(1 - 2 * 9 / 256, 4)}
    assert interval_text(median_interval(rounds)) == "; 93% interval 77%-117%"


def test_too_few_rounds_give_no_interval():
    assert median_interval([1.0, 0.9, 0.8, 1.1]) is None  # the whole range of 4 covers 87.5%
    assert median_interval([1.0, 0.9, 0.8, 1.1, 1.2]) == {"low": 0.8, "high": 1.2, "coverage": 0.9375}
    assert interval_text(None) == ""


@given(st.lists(st.floats(0.0, 10.0, allow_nan=False), min_size=5, max_size=40))
def test_the_interval_holds_the_sample_median_with_at_least_the_coverage_asked(values):
    interval = median_interval(values)
    assert interval is not None and interval["coverage"] >= 0.9
    assert interval["low"] <= statistics.median(values) <= interval["high"]


def test_the_stated_coverage_is_what_sampling_gives():
    """Draw 8 rounds from a skewed distribution with a known median many times: the interval holds that median about
    as often as it says (93%), not much less."""
    rng = random.Random(6)
    true_median = 1.0  # of exp(normal(0, 0.4)), a skewed, always positive ratio
    trials = 4000
    held = sum(
        (found := median_interval([rng.lognormvariate(0, 0.4) for _ in range(8)]))["low"]
        <= true_median
        <= found["high"]
        for _ in range(trials)
    )
    assert abs(held / trials - 0.9297) < 0.02
