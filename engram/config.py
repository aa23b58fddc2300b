"""Server configuration: one Struct, loaded from defaults < TOML file < environment < command-line flags.

The supervisor resolves the configuration once and hands it to the router, the workers and the API processes as
JSON in ``ENGRAM_CONFIG_JSON``, so every process of one server sees exactly the same values.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import msgspec

CONFIG_ENV = "ENGRAM_CONFIG_JSON"
DEFAULT_DATA_ROOT = "./engram-data"
DEFAULT_DIM = 768
DEFAULT_ROUTER = "tcp://127.0.0.1:7433"  # the native protocol endpoint, for servers and clients alike
DEFAULT_EVENTS = "tcp://127.0.0.1:7434"  # the events channel (ZeroMQ PUB/SUB, docs/protocol.md), likewise
ABSOLUTE_MAX_DIM = 8192


class Config(msgspec.Struct, kw_only=True):
    data_root: str = DEFAULT_DATA_ROOT
    """The data directory: the registry, and one directory per space (DESIGN §6). One server per directory."""
    host: str = "127.0.0.1"
    """The HTTP bind address of the REST API."""
    port: int = 7432
    """The HTTP port of the REST API."""
    router: str = DEFAULT_ROUTER
    """The native protocol endpoint (the router's frontend), for the API processes and native clients."""
    events: str = DEFAULT_EVENTS
    """Where the router publishes every space's events (an XPUB socket); SSE streams, Client.subscribe and
    AsyncClient.subscribe read it."""
    events_heartbeat_s: Annotated[float, msgspec.Meta(gt=0)] = 15.0
    """An SSE stream with no event for this long sends a comment line, so proxies and clients see it is alive."""
    workers: int = 0
    """Worker processes that own the spaces; 0 means one per CPU this process may run on, less one for the router and
    the API processes (at least 1). On 2 cores that is 1 worker: it served one space and 1,000 faster than 2 workers
    did, which competed with the front end for the cores; 2 put a process boundary between halves of the tenants
    instead (docs/scaling.md, "How many workers")."""
    default_space: str = "default"
    """The space of a request that names none (unless ``require_explicit_space``)."""
    default_dim: int = DEFAULT_DIM
    """Embedding dimension of a space created without one (768, like the original Engram)."""
    require_explicit_space: bool = False
    """Answer a request that names no space with 400 MISSING_MEMORY_SPACE instead of using ``default_space``."""
    request_timeout_s: float = 30.0
    """How long an API process waits for the router's answer before a 503."""
    http_workers: int = 2
    """gunicorn worker processes of the REST API (gevent: each serves many connections; ops/gunicorn.md)."""
    http_threads: int = 4
    """Threads per gunicorn worker, used only if the worker class is switched back to gthread."""
    consolidation_interval_s: float = 300.0
    """How often a space whose episodes changed gets a scheduled consolidation pass."""
    index_seal_rows: Annotated[int, msgspec.Meta(ge=64)] = 8192
    """Live memories a space's exact buffer holds before compaction seals them into an index segment. Measured on 2
    cores, one segment answers faster than an exact scan of its rows from about 8-16k rows (docs/index.md)."""

    # -- space lifecycle and storage (docs/storage.md) --
    max_spaces: Annotated[int, msgspec.Meta(ge=0)] = 100_000
    """Spaces the registry holds (deleted ones excluded); creating one more answers 429 SPACE_LIMIT_REACHED. 0 allows
    no new space at all (existing ones keep working): a way to freeze a deployment."""
    bootstrap_spaces: list[str] = []
    """Spaces created (if missing) when the server starts, before it reports ready."""
    idle_offload_s: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    """A space untouched this long is snapshotted and dropped from its worker's memory; the next request reloads it."""
    max_resident_spaces: Annotated[int, msgspec.Meta(ge=1)] = 4096
    """Spaces one worker keeps loaded at most; beyond it the least recently used is offloaded (bounds its memory).
    A small space costs about 120 KB loaded (dim 768), so 4096 is about 500 MB per worker. Set it above the number
    of spaces a worker serves within ``idle_offload_s``: below that, round-robin traffic reloads a space on nearly
    every request (measured: 1,000 active spaces at a cap of 256 ran at 60% of one space's throughput, at 2,000
    at 101%)."""
    gc_full_pass_interval_s: Annotated[float, msgspec.Meta(ge=0)] = 600.0
    """A worker runs the garbage collector's full pass itself, this often, between batches while no request waits
    (or regardless, an interval late), instead of when CPython's heuristic would: that pass stops every space of the
    worker for a time that grows with the spaces it holds (204 ms at 1,200 spaces) and collected nothing in the
    evidence suite. Young generations are collected as always. 0: CPython's own full passes (docs/storage.md)."""
    snapshot_wal_bytes: Annotated[int, msgspec.Meta(ge=0)] = 16 * 1024 * 1024
    """Log bytes written since a space's last snapshot that make its worker write a new one and truncate the log
    (0: no periodic snapshots). A big space also waits for ``snapshot_growth_ratio``."""
    snapshot_growth_ratio: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    """A space's log tail must also reach this share of the space's stored bytes before its next snapshot. Each
    snapshot rewrites the whole space, so with ``snapshot_wal_bytes`` alone a 3 GB space would be rewritten every
    16 MiB of writes. At 0.5 snapshots write at most about 2 bytes per byte logged, and the tail a restart replays
    stays under half the space's size. 0: ``snapshot_wal_bytes`` alone."""
    warm_after_s: Annotated[float, msgspec.Meta(gt=0)] = 86_400.0
    """An offloaded space idle this long has its index segments moved from hot/ to warm/."""
    cold_after_s: Annotated[float, msgspec.Meta(gt=0)] = 7 * 86_400.0
    """An offloaded space idle this long has its index segments compressed into cold/."""
    default_durability: Literal["fsync", "interval", "none"] = "fsync"
    """Durability policy of a space created without one: "fsync", "interval" or "none" (docs/durability.md)."""
    sync_overwrites: bool = True
    """On ext4, sync a log whose new records only overwrote space already on disk by writing those pages and
    flushing the disk's cache once per batch, as safe as an fdatasync without its inode write (workers/durability.py,
    docs/durability.md). False: fdatasync, or one syncfs for several logs, as before; for comparing the two."""
    max_metric_spaces: Annotated[int, msgspec.Meta(ge=1)] = 1000
    """Spaces with their own series in /metrics; the rest are folded into memory_space="_other"."""
    metrics_dir: str = ""
    """Where the processes' metrics files go (emptied at start, removed at stop). Empty: a directory in /dev/shm when
    it has 256 MiB free, else <data_root>/.metrics; keep them off the data root's disk (docs/metrics.md)."""
    space_inflight_limit: Annotated[int, msgspec.Meta(ge=0)] = 4
    """Requests of one space queued at or handled by its worker at once; later ones wait in the router, in order,
    so a busy space cannot queue ahead of quiet spaces on the same worker (router/fair.py). 0: no limit."""
    pacing_cpu_target: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.5
    """While the machine's CPU is busier than this share and other spaces are active, a space sending most of the
    requests is paced down until the CPU is back under it, so the other spaces keep their latency; a space alone
    is never paced (router/pacing.py). 0: no pacing; 1: pace only a fully busy machine."""

    @property
    def worker_count(self) -> int:
        return self.workers if self.workers > 0 else default_worker_count()

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def to_env(self) -> dict[str, str]:
        """Environment for a child process of this server."""
        return {**os.environ, CONFIG_ENV: msgspec.json.encode(self).decode()}


def default_worker_count() -> int:
    """Workers when ``workers`` is 0: the usable CPUs less one, which the router and the API processes need (every
    request passes through both). The affinity mask, not ``os.cpu_count()``, so that a container or a ``taskset``
    limited to fewer CPUs than the machine has gets as many workers as it can run."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus - 1)


# Environment variables and the Config field each one sets.
ENV_VARS: dict[str, str] = {
    "ENGRAM_DATA_DIR": "data_root",
    "ENGRAM_HOST": "host",
    "ENGRAM_PORT": "port",
    "ENGRAM_ROUTER": "router",
    "ENGRAM_EVENTS": "events",
    "ENGRAM_WORKERS": "workers",
    "ENGRAM_DEFAULT_SPACE": "default_space",
    "ENGRAM_REQUIRE_EXPLICIT_SPACE": "require_explicit_space",
}

# TOML sections map onto the flat Config: [memory_spaces] data_root = ..., [server] port = ..., and so on.
_TOML_SECTIONS = ("memory_spaces", "server", "router", "workers")


class Source(StrEnum):
    """Where a setting's effective value came from; each layer overrides the ones before it."""

    DEFAULT = "default"
    FILE = "file"
    ENV = "env"
    FLAG = "flag"


class ResolvedConfig(NamedTuple):
    """A configuration with the provenance of every field, for ``engram config show``.

    ``sources`` has every Config field; ``origins`` names the file path or environment variable for FILE and ENV
    values (empty for DEFAULT and FLAG). ``unknown`` lists config file keys that match no setting and were ignored.
    """

    config: Config
    sources: dict[str, Source]
    origins: dict[str, str]
    unknown: list[str]


def load_config(config_file: str | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Resolve the configuration: defaults, then the TOML file, then ENGRAM_* variables, then ``overrides``
    (command-line flags; None values are ignored). Raises ``ValueError`` naming the bad key or value."""
    return resolve_config(config_file, overrides).config


def resolve_config(config_file: str | None = None, overrides: dict[str, Any] | None = None) -> ResolvedConfig:
    """``load_config``, also reporting where each field's value came from (same layering, same errors)."""
    fields = set(Config.__struct_fields__)
    values: dict[str, Any] = {}
    sources = dict.fromkeys(fields, Source.DEFAULT)
    origins = dict.fromkeys(fields, "")
    unknown: list[str] = []

    def layer(entries: dict[str, Any], source: Source, origin_of: Callable[[str], str]) -> None:
        for key, value in entries.items():
            values[key] = value
            if key in fields:
                sources[key], origins[key] = source, origin_of(key)
            else:
                unknown.append(key)

    if config_file:
        path = Path(config_file)
        layer(_read_toml(path), Source.FILE, lambda _key: str(path))
    env_var_of = {field: var for var, field in ENV_VARS.items() if var in os.environ}
    layer({field: os.environ[var] for field, var in env_var_of.items()}, Source.ENV, env_var_of.__getitem__)
    layer({k: v for k, v in (overrides or {}).items() if v is not None}, Source.FLAG, lambda _key: "")
    try:
        config = msgspec.convert(values, Config, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid configuration: {exc}") from exc
    config.data_root = str(Path(config.data_root).expanduser().resolve())
    return ResolvedConfig(config, sources, origins, unknown)


def config_from_env() -> Config:
    """The configuration a child process was started with (see ``Config.to_env``)."""
    raw = os.environ.get(CONFIG_ENV)
    return msgspec.json.decode(raw, type=Config) if raw else load_config()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read config file {path}: {exc}") from exc
    flat: dict[str, Any] = {}
    for key, value in document.items():
        if key in _TOML_SECTIONS and isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat
