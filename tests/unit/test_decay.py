"""The forgetting curve and reinforcement as pure code."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engram.errors import EngramError, ErrorCode
from workers.decay import (
    DEFAULT_EPISODE_DECAY_RATE_PER_H,
    DEFAULT_MEMORY_DECAY_RATE_PER_H,
    check_decay_rate,
    current_confidence,
    default_decay_rate,
    first_access,
    reinforced,
)

NOW = 1_700_000_000.0
HOUR_S = 3600.0


def test_confidence_decays_exponentially_per_hour_at_the_memory_rate() -> None:
    assert current_confidence(0.8, 0.1, NOW - 5 * HOUR_S, NOW) == pytest.approx(0.8 * math.exp(-0.5))
    assert current_confidence(0.8, 0.0, NOW - 1e6, NOW) == pytest.approx(0.8)  # rate 0 never fades
    assert current_confidence(0.8, 0.1, NOW + HOUR_S, NOW) == pytest.approx(0.8)  # a future access counts as now
    rates = np.array([0.01, 1.0])
    np.testing.assert_allclose(current_confidence(np.array([0.5, 0.5]), rates, NOW - HOUR_S, NOW), 0.5 * np.exp(-rates))


def test_default_rates_are_the_originals_per_kind() -> None:
    assert (default_decay_rate(False), default_decay_rate(True)) == (0.1, 0.05)
    assert (DEFAULT_MEMORY_DECAY_RATE_PER_H, DEFAULT_EPISODE_DECAY_RATE_PER_H) == (0.1, 0.05)


def test_a_new_memory_was_last_accessed_when_observed_but_never_after_it_was_stored() -> None:
    assert first_access(NOW - 10, NOW) == NOW - 10
    assert first_access(NOW + 10, NOW) == NOW


def test_reinforcement_moves_a_tenth_of_the_way_to_certainty_and_never_past_it() -> None:
    assert reinforced(0.5) == pytest.approx(0.55)
    assert reinforced(1.0) == 1.0
    value = 0.0
    for _ in range(500):
        value = reinforced(value)
    assert 0.99 < value <= 1.0


@pytest.mark.parametrize("rate", [-0.1, float("nan"), float("inf"), 1e9])
def test_bad_decay_rates_are_invalid_input(rate: float) -> None:
    with pytest.raises(EngramError) as caught:
        check_decay_rate(rate)
    assert caught.value.code == ErrorCode.INVALID_MEMORY_INPUT and "decay_rate" in caught.value.message


@given(
    confidence=st.floats(0.0, 1.0),
    rate=st.floats(0.0, 100.0),
    earlier_h=st.floats(0.0, 1e4),
    later_h=st.floats(0.0, 1e4),
)
def test_forgetting_never_raises_confidence_and_longer_silence_forgets_more(
    confidence: float, rate: float, earlier_h: float, later_h: float
) -> None:
    short, long = sorted((earlier_h, later_h))
    after_short = float(current_confidence(confidence, rate, NOW - short * HOUR_S, NOW))
    after_long = float(current_confidence(confidence, rate, NOW - long * HOUR_S, NOW))
    assert 0.0 <= after_long <= after_short <= confidence
    assert confidence <= reinforced(confidence) <= 1.0
