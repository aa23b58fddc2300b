"""What the load generator records and how it summarises it: every request's latency with its space and operation,
errors counted by label, the per-space and overall figures, and the live progress line.

Each client thread owns one ``Recorder`` (appends only, no lock); the summary merges them after the run, so
recording costs the hot loop a few list appends. Percentiles are exact (every sample is kept), read as the sample
at rank q% like bench/httpload.py's.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from bench.httpload import percentile

PERCENTILES = (50, 95, 99, 99.9)
MEDIAN_INTERVAL_COVERAGE = 0.9
PROGRESS_INTERVAL_S = 1.0


@dataclass
class Recorder:
    """One client thread's samples: parallel lists of space index, operation and latency (ms) of each success."""

    spaces: list[int] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)  # (space index, operation, label) -> count
    error_count: int = 0  # read by the progress line while the thread runs (a Counter may not be iterated then)

    def ok(self, space: int, operation: str, latency_ms: float) -> None:
        self.spaces.append(space)
        self.operations.append(operation)
        self.latencies_ms.append(latency_ms)

    def failed(self, space: int, operation: str, label: str) -> None:
        self.errors[(space, operation, label)] += 1
        self.error_count += 1


def median_interval(values: list[float], coverage: float = MEDIAN_INTERVAL_COVERAGE) -> dict | None:
    """How far the median of a few noisy rounds can be trusted: the k-th smallest and k-th largest of ``values``
    hold the median of what they sample with probability 1 - 2 P(B <= k - 1), B binomial(n, 1/2), whatever the
    distribution. k is the largest with at least ``coverage``: for 8 rounds the 2nd and 7th, 93%. None when even
    the whole range covers less (fewer than 5 rounds for 90%)."""
    ordered = sorted(values)
    n = len(ordered)
    found = None
    for k in range(1, n // 2 + 1):
        covered = 1 - 2 * sum(math.comb(n, i) for i in range(k)) / 2**n
        if covered < coverage:
            break
        found = {"low": ordered[k - 1], "high": ordered[n - k], "coverage": round(covered, 4)}
    return found


def interval_text(interval: dict | None) -> str:
    """The median's interval (bench/load_stats.median_interval) as "; 93% interval 81%-117%", or "" without one."""
    if interval is None:
        return ""
    return f"; {interval['coverage']:.0%} interval {interval['low']:.0%}-{interval['high']:.0%}"


def latency_figures(latencies_ms: np.ndarray | list[float]) -> dict:
    """count, mean and the PERCENTILES of a set of latencies, in ms (NaN-free: None when there are none)."""
    ordered = sorted(float(x) for x in latencies_ms)
    figures: dict = {"count": len(ordered)}
    figures["mean_ms"] = round(sum(ordered) / len(ordered), 3) if ordered else None
    for q in PERCENTILES:
        figures[f"p{q:g}_ms"] = round(percentile(ordered, q), 3) if ordered else None
    figures["max_ms"] = round(ordered[-1], 3) if ordered else None
    return figures


def summarise(recorders: list[Recorder], names: list[str], seconds: float, per_space_limit: int) -> dict:
    """Overall, per-operation and per-space figures; per-space rows are listed for at most ``per_space_limit``
    spaces (all spaces are always in the distribution of per-space throughput)."""
    spaces = np.array([s for r in recorders for s in r.spaces], dtype=np.int64)
    latencies = np.array([x for r in recorders for x in r.latencies_ms], dtype=np.float64)
    operations = np.array([o for r in recorders for o in r.operations], dtype=object)
    errors: Counter = sum((r.errors for r in recorders), Counter())
    by_label = Counter()
    for (_, _, label), count in errors.items():
        by_label[label] += count
    seconds = max(seconds, 1e-9)
    overall = {
        **latency_figures(latencies),
        "ok": int(len(latencies)),
        "errors": sum(by_label.values()),
        "throughput_per_s": round(len(latencies) / seconds, 1),
    }
    per_operation = {}
    for operation in sorted(set(operations.tolist()) | {op for (_, op, _) in errors}):
        mask = operations == operation
        failed: Counter = Counter()
        for (_, op, label), count in errors.items():
            if op == operation:
                failed[label] += count
        per_operation[operation] = {
            **latency_figures(latencies[mask]),
            "throughput_per_s": round(int(mask.sum()) / seconds, 1),
            "errors": dict(failed),
        }
    counts = np.bincount(spaces, minlength=len(names)) if len(spaces) else np.zeros(len(names), dtype=np.int64)
    rates = counts / seconds
    per_space = {}
    if len(names) <= per_space_limit:
        order = np.argsort(spaces, kind="stable")
        bounds = np.searchsorted(spaces[order], np.arange(len(names) + 1))
        space_errors: Counter = Counter()
        for (space, _, _), count in errors.items():
            space_errors[space] += count
        for index, name in enumerate(names):
            samples = latencies[order[bounds[index] : bounds[index + 1]]]
            per_space[name] = {
                **latency_figures(samples),
                "throughput_per_s": round(float(rates[index]), 2),
                "errors": space_errors[index],
            }
    return {
        "seconds": round(seconds, 3),
        "overall": overall,
        "errors_by_code": dict(by_label.most_common()),
        "operations": per_operation,
        "space_throughput": {
            "spaces": len(names),
            "min_per_s": round(float(rates.min()), 2),
            "p50_per_s": round(float(np.median(rates)), 2),
            "max_per_s": round(float(rates.max()), 2),
            "idle_spaces": int((counts == 0).sum()),
            "jain_fairness": round(float(rates.sum() ** 2 / (len(rates) * (rates**2).sum())), 4)
            if rates.any()
            else None,
        },
        "spaces": per_space,
    }


class Progress:
    """Prints one status line to stderr every second while a run goes on: elapsed, successes, rate in the last
    second, errors. On a terminal the line rewrites itself; in a log each second is its own line."""

    def __init__(self, label: str, recorders: list[Recorder], seconds: float, enabled: bool = True) -> None:
        self.label = label
        self.recorders = recorders
        self.seconds = seconds
        self.enabled = enabled
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Progress:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.enabled:
            self._thread.join()
            if sys.stderr.isatty():
                sys.stderr.write("\n")

    def _run(self) -> None:
        started = time.monotonic()
        before = 0
        end = "\r" if sys.stderr.isatty() else "\n"
        while not self._stop.wait(PROGRESS_INTERVAL_S):
            done = sum(len(r.latencies_ms) for r in self.recorders)
            errors = sum(r.error_count for r in self.recorders)
            elapsed = time.monotonic() - started
            sys.stderr.write(
                f"[{self.label}] {elapsed:5.1f}/{self.seconds:g} s  ok {done:>8}  "
                f"{(done - before) / PROGRESS_INTERVAL_S:>7.0f}/s  errors {errors}{end}"
            )
            sys.stderr.flush()
            before = done
