"""Every Prometheus metric of the server, defined once, for the router, the workers and the API processes alike.

Engram is many processes (gunicorn's API workers, the router, its workers), so the metrics use ``prometheus_client``
in multiprocess mode: each process writes its values into memory-mapped files under ``PROMETHEUS_MULTIPROC_DIR``
(in ``/dev/shm`` or ``<data_root>/.metrics/``: ``metrics_dir_for``; emptied by the supervisor at every start) and
``GET /metrics`` merges all of them. The mode is chosen when ``prometheus_client`` is first imported, from that
environment variable, so a process must have it in its environment from the start (the supervisor passes it to the
router and gunicorn; the router's workers inherit it). Without it (unit tests, a process started by hand) the
metrics count in-process and nothing is shared.

Per-space series carry the label ``memory_space``. Its value is bounded by the cardinality guard
(router/metrics.py): the first ``max_metric_spaces`` spaces get their id, every later one ``OTHER_SPACE``. The router
decides, and tells the worker in ``Placement.metric_label``, so both label a space alike. docs/metrics.md lists every
metric and says how to read it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_DIR = ".metrics"
"""The per-server directory of the multiprocess files under the data root, when there is no room in memory."""
RUNTIME_DIR = Path("/dev/shm")
RUNTIME_DIR_MIN_FREE = 256 * 1024 * 1024  # a full tmpfs would kill a process writing its mapped metrics (SIGBUS)
SPACE_LABEL = "memory_space"
OTHER_SPACE = "_other"
"""The ``memory_space`` value of every space past ``max_metric_spaces`` (and of requests to unknown spaces)."""

_LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_FSYNC_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

# -- router --------------------------------------------------------------------------------------------------------

REQUESTS = Counter(
    "engram_requests_total",
    "Requests to a memory space, by op and outcome (ok, or the error code), as the router answered them.",
    [SPACE_LABEL, "op", "outcome"],
)
REQUEST_DURATION = Histogram(
    "engram_request_duration_seconds",
    "Time from the router forwarding a request to the space's worker until the worker's reply reached it.",
    [SPACE_LABEL, "op"],
    buckets=_LATENCY_BUCKETS_S,
)
QUOTA_REJECTIONS = Counter(
    "engram_quota_rejections_total",
    "Requests refused with 429 by a quota: max_rps, pacing and max_spaces (router), max_memories and max_bytes "
    "(worker).",
    [SPACE_LABEL, "quota"],
)
DEFAULT_FALLBACKS = Counter(
    "engram_memory_space_default_fallback_total",
    "Requests that named no memory space and were served from the default space (deprecated).",
)
PROCESS_EXITS = Counter(
    "engram_process_exits_total",
    "Worker and index-builder processes that exited unexpectedly and were restarted by the router.",
    ["process"],
)

# -- workers -------------------------------------------------------------------------------------------------------

# "livesum": a space lives in exactly one worker, which sets its figures; the sum over live processes is then the
# space's figure, and for "_other" the total over every folded space of every worker. A worker that dies has its
# files dropped (mark_process_dead), so a dead worker's last figures never add to its replacement's.
MEMORIES = Gauge(
    "engram_memories",
    "Live memories in the space, as its worker last measured them (kept while the space is offloaded).",
    [SPACE_LABEL],
    multiprocess_mode="livesum",
)
STORED_BYTES = Gauge(
    "engram_stored_bytes",
    "Approximate stored bytes of the space (content, embedding, tags, metadata): the unit of max_bytes.",
    [SPACE_LABEL],
    multiprocess_mode="livesum",
)
WAL_FSYNC = Histogram(
    "engram_wal_fsync_seconds",
    "Duration of the sync that made a batch's writes to the space durable (fsync policy; the logs a batch wrote "
    "are synced together, workers/durability.py, and the sync is counted once for each of their spaces).",
    [SPACE_LABEL],
    buckets=_FSYNC_BUCKETS_S,
)
WAL_REPLAY_BYTES = Gauge(
    "engram_wal_replay_bytes",
    "Log bytes of the space written since its newest snapshot: what its next open replays (workers snapshot it "
    "past snapshot_wal_bytes; a figure that keeps growing means its snapshots fail).",
    [SPACE_LABEL],
    multiprocess_mode="livesum",
)
RESIDENT_SPACES = Gauge(
    "engram_resident_spaces",
    "Spaces the worker holds loaded in memory (bounded by max_resident_spaces; idle ones are offloaded).",
    ["worker"],
    multiprocess_mode="livesum",
)
OFFLOADS = Counter(
    "engram_offloads_total",
    "Spaces the worker closed and dropped from memory: idle for idle_offload_s, or past max_resident_spaces.",
    ["worker"],
)
GC_FULL_PASSES = Histogram(
    "engram_gc_full_pass_seconds",
    "How long each scheduled full pass of the garbage collector stopped the worker (every space it serves waits).",
    ["worker"],
    buckets=_LATENCY_BUCKETS_S,
)
WAL_LAG = Gauge(
    "engram_wal_lag_seconds",
    "Age of the oldest acknowledged write not yet fsynced (interval durability; 0 when everything is synced).",
    [SPACE_LABEL],
    multiprocess_mode="livemax",
)

# -- API -----------------------------------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "engram_http_requests_total",
    "HTTP requests answered by the API, by route template, method and status code.",
    ["route", "method", "status"],
)


def metrics_dir_for(data_root: str | Path, configured: str = "") -> Path:
    """Where one server's multiprocess files go: ``configured`` when set; else a directory of its own in memory
    (``/dev/shm``) when that is a writable tmpfs with room to spare; else ``<data_root>/.metrics``.

    Why not the data root by default: every metric update dirties a page of these memory-mapped files, and a file
    on the data root's filesystem is written back to disk, uselessly, and with every batch's ``syncfs`` too
    (workers/durability.py). With 1,000 spaces' series that made each sync write out pages of metrics: one worker
    served 73-85% of its 1-space throughput, against 100% with the files in memory (bench/fairness.py)."""
    if configured:
        return Path(configured)
    if _has_room(RUNTIME_DIR):
        digest = hashlib.sha256(str(Path(data_root).resolve()).encode()).hexdigest()[:16]
        return RUNTIME_DIR / f"engram-metrics-{os.getuid()}-{digest}"
    return Path(data_root) / METRICS_DIR


def _has_room(directory: Path) -> bool:
    try:
        stats = os.statvfs(directory)
    except OSError:
        return False
    return os.access(directory, os.W_OK | os.X_OK) and stats.f_bavail * stats.f_frsize >= RUNTIME_DIR_MIN_FREE


def prepare_dir(data_root: str | Path, configured: str = "") -> Path:
    """Create the metrics directory (``metrics_dir_for``) empty: a new server starts its counters from zero, and
    files of processes from an earlier run never add to this one's figures. Only the supervisor calls it, holding
    the data root; it also removes ``<data_root>/.metrics`` left by a server that kept its files there."""
    path = metrics_dir_for(data_root, configured)
    for stale in {path, Path(data_root) / METRICS_DIR}:
        shutil.rmtree(stale, ignore_errors=True)
    path.mkdir(parents=True, mode=0o700)
    return path


def remove_dir(path: str | Path) -> None:
    """Remove a stopped server's metrics directory (in memory it would hold RAM until the next start)."""
    shutil.rmtree(path, ignore_errors=True)


def drop_dead_live_gauges(path: str | Path) -> None:
    """Drop the live gauges of every process that is gone (the router's workers, when the router itself died and
    could not mark them dead)."""
    for file in Path(path).glob("gauge_live*_*.db"):
        pid = file.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            file.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def multiprocess_dir() -> str | None:
    """The directory every process writes its metrics into, or None when metrics are per process only."""
    return os.environ.get(MULTIPROC_DIR_ENV) or None


def mark_process_dead(pid: int) -> None:
    """Drop a dead process's live gauges (its counters and histograms stay: they are totals)."""
    if multiprocess_dir() is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)
