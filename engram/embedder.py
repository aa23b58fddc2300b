"""The built-in text embedder: deterministic signed feature hashing, no model and no download.

Why it exists: the original Engram replaces a missing embedding with a constant placeholder, so every
text-only memory of a space looks identical and deduplication collapses them into one. Hashing the words (and
the character trigrams of each word, so "memory" and "memories" overlap) gives every text its own vector, and
texts that share words point in similar directions: text-only clients get real recall without configuring a
model.

Why it is built this way: the vector of a text must be the same in every process and every run, because
vectors are written to the log by one worker and compared with queries embedded by another (or by the same one
after a restart). So features are hashed with blake2b, never with Python's per-process salted ``hash()``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache
from hashlib import blake2b

import numpy as np

UNIGRAM_WEIGHT = 1.0
TRIGRAM_WEIGHT_PER_WORD = 0.5
"""The L2 length of a word's trigram features together (each gets 0.5/sqrt(n)): enough for related word forms
to overlap noticeably (about 0.15 cosine for "consolidation" and "consolidating"), half of the word itself."""

WORD_CACHE_SIZE = 1 << 16

_TOKEN = re.compile(r"[^\W_]+")  # runs of Unicode letters and digits
_WORD_BOUNDARY_START = "<"
_WORD_BOUNDARY_END = ">"


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens: maximal runs of letters and digits (any script); all else separates."""
    return _TOKEN.findall(text.lower())


def embed_text(text: str, dim: int) -> np.ndarray:
    """A unit-length float32 vector of shape ``(dim,)`` for ``text``, identical in every process.

    Each distinct word adds its unigram feature (weight 1) and its boundary-padded character trigrams (0.5 in
    L2 length together), scaled by ``1 + ln(count)`` so a repeated word counts more, but not linearly more. A
    text without any word (only punctuation, or empty) gets a fixed vector derived from its raw characters:
    never all zeros, so cosine similarity stays defined and such memories are not all identical.
    """
    if dim < 1:
        raise ValueError(f"embedding dimension must be at least 1, got {dim}")
    counts = Counter(tokenize(text))
    if not counts:
        return _fallback_vector(text, dim)
    features = [_word_features(word, dim) for word in counts]
    slots = np.concatenate([slots for slots, _ in features])
    scales = np.repeat([1.0 + math.log(count) for count in counts.values()], [len(s) for s, _ in features])
    vector = np.bincount(slots, weights=np.concatenate([w for _, w in features]) * scales, minlength=dim)
    norm = float(np.linalg.norm(vector))
    if norm == 0.0:  # in a tiny dimension the signed features of a text can cancel out exactly
        return _fallback_vector(text, dim)
    return (vector / norm).astype(np.float32)


@lru_cache(maxsize=WORD_CACHE_SIZE)
def _word_features(word: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Slots and signed weights of one word's features, cached per (word, dim): words recur across texts."""
    padded = _WORD_BOUNDARY_START + word + _WORD_BOUNDARY_END
    trigrams = [padded[i : i + 3] for i in range(len(padded) - 2)]
    features = [("w", word, UNIGRAM_WEIGHT)] + [
        ("t", g, TRIGRAM_WEIGHT_PER_WORD / math.sqrt(len(trigrams))) for g in trigrams
    ]
    hashed = [(_slot(f"{kind}:{feature}", dim), weight) for kind, feature, weight in features]
    slots = np.array([slot for (slot, _), _ in hashed], dtype=np.intp)
    weights = np.array([sign * weight for (_, sign), weight in hashed], dtype=np.float64)
    slots.flags.writeable = False  # cached arrays are shared by every caller
    weights.flags.writeable = False
    return slots, weights


def _slot(feature: str, dim: int) -> tuple[int, float]:
    """A stable (slot, sign) for a feature; the sign keeps hash collisions from adding up systematically."""
    h = int.from_bytes(blake2b(feature.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
    return h % dim, (1.0 if h >> 63 else -1.0)


def _fallback_vector(text: str, dim: int) -> np.ndarray:
    vector = np.zeros(dim, dtype=np.float32)
    slot, sign = _slot("raw:" + text, dim)
    vector[slot] = sign
    return vector
