"""The router's metrics: requests, latency and quota rejections per space, the default-space fallback, and the
cardinality guard that decides every space's ``memory_space`` label.

The router is the one place every request passes, so it counts them: a forwarded request when its worker's reply
comes back (outcome ``ok`` or the reply's error code, latency from forward to reply), a request the router refuses
itself (quota, deleted space, ...) when it answers. Only ops of the protocol become ``op`` values, and only labels
from ``SpaceLabels`` become ``memory_space`` values, so no client can grow the series count.

The label of a space is handed to its worker with each request (``Placement.metric_label``): the worker's gauges
and fsync histogram then use the very label the router chose.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import msgspec

from engram import metrics
from engram import protocol as p
from engram.errors import EngramError, ErrorCode
from engram.ids import validate_space_id

log = logging.getLogger(__name__)

FALLBACK_WARNING_INTERVAL_S = 60.0
"""At most one deprecation warning this often for requests that fall back to the default space."""
STALE_REQUEST_S = 600.0
"""A forwarded request whose reply never came (lost with its worker) is forgotten after this long."""
_PRUNE_EVERY = 4096
_KNOWN_OPS = frozenset(p.RESULT_TYPES)
_OTHER_OP = "other"


class SpaceLabels:
    """The cardinality guard: the first ``limit`` distinct spaces given a label keep their own id for good; every
    later one is ``OTHER_SPACE``. So at most ``limit + 1`` distinct ``memory_space`` values ever exist."""

    def __init__(self, limit: int, existing: Iterable[str] = ()) -> None:
        self.limit = limit
        self._own: set[str] = set()
        self._warned = False
        for space in existing:
            self.assign(space)

    def assign(self, space: str) -> str:
        """The label of ``space``, giving it its own while there is room (a space that has one keeps it)."""
        if space in self._own:
            return space
        if len(self._own) < self.limit:
            self._own.add(space)
            return space
        if not self._warned:
            self._warned = True
            log.warning(
                "more than max_metric_spaces = %d memory spaces: /metrics folds space '%s' and every later one "
                'into memory_space="%s"; raise max_metric_spaces to see them one by one',
                self.limit,
                space,
                metrics.OTHER_SPACE,
            )
        return metrics.OTHER_SPACE

    def peek(self, space: str) -> str:
        """The label of ``space`` without giving it one (for spaces that do not exist, or were refused)."""
        return space if space in self._own else metrics.OTHER_SPACE

    def __len__(self) -> int:
        return len(self._own)


class RouterMetrics:
    def __init__(self, max_metric_spaces: int, existing: Iterable[str] = (), clock=time.monotonic) -> None:
        self.labels = SpaceLabels(max_metric_spaces, existing)
        self._clock = clock
        self._started: dict[bytes, tuple[float, str, str]] = {}  # ticket: (forwarded at, label, op)
        self._next_fallback_warning = 0.0
        self._since_prune = 0

    def label(self, space: str, placement: p.Placement) -> p.Placement:
        """``placement`` with the space's label; only a space that exists is given a label of its own."""
        label = self.labels.assign(space) if placement.exists else self.labels.peek(space)
        return msgspec.structs.replace(placement, metric_label=label)

    def forwarded(self, ticket: bytes, op: str, placement: p.Placement) -> None:
        self._started[ticket] = (self._clock(), placement.metric_label or metrics.OTHER_SPACE, _op(op))
        self._since_prune += 1
        if self._since_prune >= _PRUNE_EVERY:
            self._prune()

    def replied(self, ticket: bytes, reply: bytes) -> None:
        started = self._started.pop(ticket, None)
        if started is None:
            return
        at, label, op = started
        try:
            error = p.REPLY_DECODER.decode(reply).error
        except msgspec.DecodeError:
            outcome = ErrorCode.MEMORY_SYSTEM_ERROR.value
        else:
            outcome = "ok" if error is None else error.code  # a worker's quota rejection is counted there
        metrics.REQUESTS.labels(label, op, outcome).inc()
        metrics.REQUEST_DURATION.labels(label, op).observe(max(0.0, self._clock() - at))

    def failed(self, ticket: bytes) -> None:
        """A forwarded request the router answered 503 instead (its worker died, or did not come back in time)."""
        started = self._started.pop(ticket, None)
        if started is not None:
            metrics.REQUESTS.labels(started[1], started[2], ErrorCode.SERVICE_UNAVAILABLE.value).inc()

    def refused(self, header: p.Header | None, default_space: str, error: EngramError) -> None:
        """A request the router answered with an error before forwarding it (no series for an invalid space)."""
        if header is None or header.op in p.REGISTRY_OPS:
            return
        try:
            space = default_space if header.space is None else validate_space_id(header.space)
        except EngramError:
            return
        label = self.labels.peek(space)
        metrics.REQUESTS.labels(label, _op(header.op), error.code.value).inc()
        if error.code == ErrorCode.QUOTA_EXCEEDED:
            metrics.QUOTA_REJECTIONS.labels(label, error.quota or "max_rps").inc()
        elif error.code == ErrorCode.SPACE_LIMIT_REACHED:
            metrics.QUOTA_REJECTIONS.labels(label, "max_spaces").inc()

    def default_fallback(self, op: str, default_space: str) -> None:
        """Count a request without a space served from the default one, and warn (at most once a minute)."""
        metrics.DEFAULT_FALLBACKS.inc()
        now = self._clock()
        if now >= self._next_fallback_warning:
            self._next_fallback_warning = now + FALLBACK_WARNING_INTERVAL_S
            log.warning(
                "a native request (%s) named no memory space and was served from the default space '%s'; this "
                "fallback is deprecated. Send the space in the request header, or set require_explicit_space = "
                "true to refuse such requests (engram_memory_space_default_fallback_total counts them)",
                op,
                default_space,
            )

    def _prune(self) -> None:
        self._since_prune = 0
        cutoff = self._clock() - STALE_REQUEST_S
        for ticket in [t for t, (at, _label, _op) in self._started.items() if at < cutoff]:
            del self._started[ticket]


def _op(op: str) -> str:
    return op if op in _KNOWN_OPS else _OTHER_OP
