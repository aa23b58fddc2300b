"""The ``max_rps`` quota: one token bucket per space, kept by the router (the one place every request passes).

A bucket holds at most ``burst = max(1, rate)`` tokens and gains ``rate`` tokens a second; each request takes one.
A space that sends requests no faster than its rate is never held back, a short burst up to ``burst`` passes at
once, and a request that finds the bucket empty is answered 429 QUOTA_EXCEEDED with the time until the next token
as ``retry_after_s``. Buckets are per space, so one space's burst never costs another space anything.
"""

from __future__ import annotations

import time

from engram.errors import EngramError, ErrorCode


class TokenBucket:
    """``take`` a token: 0.0 when there was one, else the seconds until there will be one (nothing is taken)."""

    __slots__ = ("rate", "burst", "_tokens", "_updated")

    def __init__(self, rate: float, now: float) -> None:
        if not rate > 0:
            raise ValueError(f"a token bucket needs a positive rate, got {rate}")
        self.rate = rate
        self.burst = max(1.0, rate)
        self._tokens = self.burst
        self._updated = now

    def take(self, now: float) -> float:
        elapsed = max(0.0, now - self._updated)  # a clock that steps back never adds tokens
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._updated = max(self._updated, now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


class RateLimits:
    """The buckets of every space with a ``max_rps``, created on a space's first request."""

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, space: str, max_rps: float | None) -> None:
        """Take a token of ``space``'s bucket, or raise QUOTA_EXCEEDED (429) with the wait until the next one."""
        if max_rps is None:
            return
        now = self._clock()
        bucket = self._buckets.get(space)
        if bucket is None or bucket.rate != max_rps:  # a changed quota starts a full bucket of the new size
            bucket = self._buckets[space] = TokenBucket(max_rps, now)
        wait_s = bucket.take(now)
        if wait_s > 0.0:
            raise EngramError(
                ErrorCode.QUOTA_EXCEEDED,
                f"Memory space '{space}' is limited to {max_rps:g} requests per second.",
                hint=f"Retry after {wait_s:.3g} s, or raise the space's max_rps with "
                f"PATCH /api/v1/spaces/{space} (engram space update {space} --max-rps N).",
                retry_after_s=wait_s,
                quota="max_rps",
            )

    def forget(self, space: str) -> None:
        """Drop a space's bucket (deleted: a space created again under its id starts afresh)."""
        self._buckets.pop(space, None)
