"""The forgetting curve: how a memory's confidence fades while nothing recalls it, and how recall restores it.

Curve: **exponential**, the original Engram's ``Memory::apply_forgetting_decay``::

    current_confidence = confidence * exp(-decay_rate * hours_since_last_access)

with a per-memory ``decay_rate`` per hour (default 0.1 for memories and 0.05 for episodes, the original's
defaults). A memory's last access starts as the moment it was observed (its ``timestamp`` / ``when``, never later
than when it was stored): a memory of something that happened three days ago has gone unrecalled for three days.
Each recall resets it to the time of the recall.

Decay is computed when a memory is read, never written back: the stored confidence changes only by reinforcement,
so a log replay reproduces it exactly, and the current value is a pure function of (stored confidence, rate, last
access, now). Recall ranks by it (workers/activation.py), so of two otherwise equal memories the one recalled or
observed more recently comes first.

Reinforcement (the testing effect): each recall that returns a memory resets its last access, counts the access
and moves its stored confidence ``REINFORCEMENT_GAIN`` of the way towards 1, so it approaches but never exceeds
certainty.
"""

from __future__ import annotations

import math

import numpy as np

from engram.errors import EngramError, ErrorCode

SECONDS_PER_HOUR = 3600.0
DEFAULT_MEMORY_DECAY_RATE_PER_H = 0.1
DEFAULT_EPISODE_DECAY_RATE_PER_H = 0.05
MAX_DECAY_RATE_PER_H = 3600.0
"""At this rate a memory keeps e^-1 of its confidence after one second; faster is a client bug, not forgetting."""
REINFORCEMENT_GAIN = 0.1
"""The share of the distance to certainty (1.0) a recall adds to a memory's stored confidence."""


def default_decay_rate(is_episode: bool) -> float:
    return DEFAULT_EPISODE_DECAY_RATE_PER_H if is_episode else DEFAULT_MEMORY_DECAY_RATE_PER_H


def check_decay_rate(rate: float) -> None:
    """A decay rate is a finite number of e-foldings per hour from 0 (never fades) to ``MAX_DECAY_RATE_PER_H``."""
    if not (math.isfinite(rate) and 0.0 <= rate <= MAX_DECAY_RATE_PER_H):
        raise EngramError(
            ErrorCode.INVALID_MEMORY_INPUT,
            f"decay_rate must be a number from 0 to {MAX_DECAY_RATE_PER_H:g} (per hour), got {rate}.",
            hint="Omit it for the default (0.1 for memories, 0.05 for episodes); 0 means the memory never fades.",
        )


def first_access(observed_at: float, stored_at: float) -> float:
    """A new memory's last access: when it was observed, but never in the future of its storing."""
    return min(observed_at, stored_at)


def current_confidence(
    confidence: np.ndarray | float,
    decay_rate: np.ndarray | float,
    last_access: np.ndarray | float,
    now: float,
) -> np.ndarray:
    """Confidence after forgetting since ``last_access`` (epoch seconds); time running backwards counts as none."""
    hours = np.maximum(now - np.asarray(last_access, dtype=np.float64), 0.0) / SECONDS_PER_HOUR
    return np.asarray(confidence, dtype=np.float64) * np.exp(-np.asarray(decay_rate, dtype=np.float64) * hours)


def reinforced(confidence: float) -> float:
    """The stored confidence after one more recall: ``REINFORCEMENT_GAIN`` of the way towards 1, capped at 1."""
    return min(1.0, confidence + REINFORCEMENT_GAIN * (1.0 - confidence))
