"""A memory's profile: what the client said about it beyond text and vector, checked and ready to log.

Why checked here: the profile is logged and replayed with the memory and returned on every read, so what goes in
must be bounded (a tag list or a metadata map cannot grow without limit inside one record) and well-formed (an
importance of 7 would become a confidence of 7). Everything within the bounds is stored exactly as sent; nothing
is dropped or rewritten, only the decay rate's default is filled in (by kind, see workers/decay.py).
"""

from __future__ import annotations

import math

from engram.errors import EngramError, ErrorCode
from engram.protocol import MemoryIn
from workers.decay import check_decay_rate, default_decay_rate
from workers.records import Profile

MAX_TAGS = 64
MAX_TAG_CHARS = 256
MAX_METADATA_ENTRIES = 64
MAX_METADATA_KEY_CHARS = 256
MAX_METADATA_VALUE_CHARS = 4096
MAX_TEXT_FIELD_CHARS = 4096  # memory_type, confidence_reasoning, where_location, why, how, each name in who
MAX_PEOPLE = 64


def profile_of(memory: MemoryIn) -> Profile:
    """The profile to log with ``memory``; raises INVALID_MEMORY_INPUT naming the first field out of bounds."""
    _check_list("tags", memory.tags, MAX_TAGS, MAX_TAG_CHARS)
    if len(memory.metadata) > MAX_METADATA_ENTRIES:
        raise _invalid(f"metadata has {len(memory.metadata)} entries; at most {MAX_METADATA_ENTRIES} are allowed.")
    for key, value in memory.metadata.items():
        _check_text("metadata key", key, MAX_METADATA_KEY_CHARS)
        _check_text(f"metadata value of '{key[:40]}'", value, MAX_METADATA_VALUE_CHARS)
    _check_text("memory_type", memory.memory_type, MAX_TEXT_FIELD_CHARS)
    _check_text("confidence_reasoning", memory.confidence_reasoning, MAX_TEXT_FIELD_CHARS)
    if not (math.isfinite(memory.link_threshold) and 0.0 <= memory.link_threshold <= 1.0):
        raise _invalid(f"link_threshold must be a number from 0 to 1, got {memory.link_threshold}.")
    episode = memory.episode
    if episode is not None:
        for name, text in (("where_location", episode.where_location), ("why", episode.why), ("how", episode.how)):
            _check_text(name, text, MAX_TEXT_FIELD_CHARS)
        _check_list("who", episode.who or [], MAX_PEOPLE, MAX_TEXT_FIELD_CHARS)
        _check_range("emotional_valence", episode.emotional_valence, -1.0, 1.0)
        _check_range("importance", episode.importance, 0.0, 1.0)
    rate = default_decay_rate(episode is not None) if memory.decay_rate is None else memory.decay_rate
    check_decay_rate(rate)
    return Profile(
        tags=tuple(memory.tags),
        memory_type=memory.memory_type,
        metadata=memory.metadata,
        decay_rate=rate,
        confidence_reasoning=memory.confidence_reasoning,
        episode=episode,
    )


def decay_rate_of(profile: Profile | None) -> float:
    """The decay rate of a logged profile; records from before profiles existed are plain memories."""
    if profile is None or profile.decay_rate is None:
        return default_decay_rate(profile is not None and profile.episode is not None)
    return profile.decay_rate


def _check_list(name: str, values: list[str], max_items: int, max_chars: int) -> None:
    if len(values) > max_items:
        raise _invalid(f"{name} has {len(values)} entries; at most {max_items} are allowed.")
    for value in values:
        _check_text(f"each entry of {name}", value, max_chars)


def _check_text(name: str, value: str | None, max_chars: int) -> None:
    if value is not None and len(value) > max_chars:
        raise _invalid(f"{name} is {len(value)} characters long; at most {max_chars} are allowed.")


def _check_range(name: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not (math.isfinite(value) and low <= value <= high):
        raise _invalid(f"{name} must be a number from {low:g} to {high:g}, got {value}.")


def _invalid(message: str) -> EngramError:
    return EngramError(ErrorCode.INVALID_MEMORY_INPUT, message, hint="Send smaller or in-range values.")
