"""The native protocol: every message the API, the router, the workers and native clients exchange.

Written down in docs/protocol.md. A request is two ZeroMQ frames from a DEALER socket:

1. ``Header`` (msgpack array): protocol version, request id, op name and space (``None`` asks for the default
   space, under the same fallback rules as REST). The router reads only this frame, plus the body of the few
   registry ops it answers itself.
2. The body: one of the ``Request`` structs, a msgspec tagged union whose tag is the op name.

Every reply is one frame: ``Reply`` with the request id and either ``error`` or the op's result (msgpack, decoded by
the caller with the result type of the op it sent). Embeddings travel as little-endian float32 bytes, never as lists.

Between router and worker the router adds a ticket and the space's placement: router -> worker
``[ticket, header, body, placement]``, worker -> router ``[ticket, reply]``. A frame list whose ticket is empty is a
control message (``WorkerReady``).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

from engram.events import EventBacklog, EventsSince  # the events channel's one native op (engram/events.py)

PROTOCOL_VERSION = 1

# ---------------------------------------------------------------------------------------------------------------
# A space's policy: how durable its writes are and how much it may hold and ask (docs/durability.md, docs/protocol.md)

Durability = Literal["fsync", "interval", "none"]
DURABILITY_POLICIES: tuple[Durability, ...] = ("fsync", "interval", "none")
MAX_DURABILITY_INTERVAL_MS = 60_000

IntervalMs = Annotated[int, msgspec.Meta(ge=1, le=MAX_DURABILITY_INTERVAL_MS)]
MemoryQuota = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]  # msgpack int64, like every count
ByteQuota = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
RateQuota = Annotated[float, msgspec.Meta(gt=0)]


class SpacePolicy(msgspec.Struct, frozen=True):
    """What the registry holds about a space besides its dimension: its durability policy and its quotas.

    ``durability``: "fsync" acknowledges a write once it is fsynced; "interval" acknowledges at once and fsyncs the
    space at most every ``durability_interval_ms``; "none" never fsyncs (the kernel has the write, so it survives a
    process crash but not a power loss). A quota of None is no limit: ``max_memories`` live memories,
    ``max_bytes`` approximate stored bytes, ``max_rps`` requests per second (a token bucket with a burst of
    ``max(1, max_rps)``). The router's registry is the authority; every forwarded request carries it to the worker.
    """

    durability: Durability = "fsync"
    durability_interval_ms: IntervalMs = 50
    max_memories: MemoryQuota | None = None
    max_bytes: ByteQuota | None = None
    max_rps: RateQuota | None = None


class SpacePolicyPatch(msgspec.Struct, frozen=True, omit_defaults=True):
    """A change to a policy, as JSON merge-patch reads it: a field left out keeps its value, a quota sent as None
    (JSON null) is lifted. ``create_space`` applies it to the server's default policy (``default_durability``)."""

    durability: Durability | UnsetType = UNSET
    durability_interval_ms: IntervalMs | UnsetType = UNSET
    max_memories: MemoryQuota | None | UnsetType = UNSET
    max_bytes: ByteQuota | None | UnsetType = UNSET
    max_rps: RateQuota | None | UnsetType = UNSET

    def apply(self, policy: SpacePolicy) -> SpacePolicy:
        changes = {name: getattr(self, name) for name in self.__struct_fields__ if getattr(self, name) is not UNSET}
        return msgspec.structs.replace(policy, **changes)


# ---------------------------------------------------------------------------------------------------------------
# Frames the router reads


class Header(msgspec.Struct, array_like=True, frozen=True):
    version: int
    request_id: int
    op: str
    space: str | None = None


class Placement(msgspec.Struct, array_like=True, frozen=True):
    """What the router tells a worker about the space of a forwarded request.

    ``exists`` is False only for reads of a space that was never created: the worker answers them as an empty space
    would, without creating anything on disk. ``fresh`` is True when the router registered the space for this very
    request (so a create_space reply can say 201 rather than 200). ``policy`` is the registry's current policy of
    the space: the worker applies it to this request and keeps ``space.json`` in step with it. ``metric_label`` is
    the space's ``memory_space`` label in /metrics, chosen by the router's cardinality guard (router/metrics.py):
    the space id, or "_other" past ``max_metric_spaces``; empty means the space id.
    """

    exists: bool
    dim: int
    created_at: float = 0.0
    fresh: bool = False
    policy: SpacePolicy = SpacePolicy()
    metric_label: str = ""


# ---------------------------------------------------------------------------------------------------------------
# Requests (frame 2). The tag of each struct is its op name.


class EpisodeContext(msgspec.Struct, omit_defaults=True):
    """What makes a memory an episode: where, who, why and how it happened. Stored and returned as sent."""

    where_location: str | None = None
    who: list[str] | None = None
    why: str | None = None
    how: str | None = None
    emotional_valence: float | None = None
    importance: float | None = None


class MemoryIn(msgspec.Struct, omit_defaults=True):
    """One memory to remember. ``embedding`` is float32 bytes of the space's dimension, or None for the built-in
    text embedder. ``observed_at`` is epoch seconds (defaults to the time the worker stores it). An episode is a
    memory with ``episode`` context (its ``content`` is the episode's ``what``). With ``auto_link`` the worker links
    the new memory to existing ones whose similarity is at least ``link_threshold``."""

    content: str
    id: str | None = None
    embedding: bytes | None = None
    confidence: float = 0.7
    observed_at: float | None = None
    tags: list[str] = []
    memory_type: str | None = None
    metadata: dict[str, str] = {}
    decay_rate: float | None = None
    confidence_reasoning: str | None = None
    episode: EpisodeContext | None = None
    auto_link: bool = False
    link_threshold: float = 0.7


class Filters(msgspec.Struct, omit_defaults=True):
    """Restrict recall, search and list to memories that carry every tag in ``tags``, none in ``exclude_tags``,
    every ``metadata`` pair, were observed within [``from_time``, ``to_time``] (epoch seconds), and, when ``kind`` is
    set, are of that kind ("memory" or "episode")."""

    tags: list[str] = []
    exclude_tags: list[str] = []
    metadata: dict[str, str] = {}
    from_time: float | None = None
    to_time: float | None = None
    kind: str | None = None


class Ping(msgspec.Struct, tag="ping"):
    pass


class CreateSpace(msgspec.Struct, tag="create_space", omit_defaults=True):
    """Create-or-get. A new space (or a deleted one created again, empty) gets ``policy`` applied to the server's
    default policy; an existing space keeps its own policy (change it with ``update_space``)."""

    dim: int | None = None
    policy: SpacePolicyPatch | None = None


class UpdateSpace(msgspec.Struct, tag="update_space"):
    """Change an existing space's policy; fields the patch leaves out keep their value."""

    policy: SpacePolicyPatch


class DeleteSpace(msgspec.Struct, tag="delete_space"):
    """Delete a space: tombstoned at once (every later request is MEMORY_SPACE_DELETED until it is created again),
    then closed by its worker and its directory purged in the background."""


class ExportSpace(msgspec.Struct, tag="export_space"):
    """The space as one archive (engram/archive.py): its worker snapshots it, then packs its files."""


class ImportSpace(msgspec.Struct, tag="import_space"):
    """Create the header's space from an exported archive, verified before anything is written. ``dim`` is the
    archive manifest's (the router registers the space with it; the worker checks that they agree)."""

    archive: bytes
    dim: int


class ListSpaces(msgspec.Struct, tag="list_spaces", omit_defaults=True):
    include_deleted: bool = False


class GetSpace(msgspec.Struct, tag="get_space"):
    pass


class Remember(msgspec.Struct, tag="remember"):
    """Remember one or more memories; all of them share one fsync and are acknowledged together."""

    memories: list[MemoryIn]


RECALL_MODES = ("similarity", "spreading", "hybrid")


class Recall(msgspec.Struct, tag="recall", omit_defaults=True):
    """Recall by text (``query``), by embedding (float32 bytes), or both (scores are combined by max).

    ``mode``: "similarity" ranks by the cue alone; "spreading" ranks by activation spread from the similarity hits
    along association edges; "hybrid" (default) blends both. Spreading is bounded by ``max_depth`` hops and
    ``time_budget_ms``. With ``trace`` each hit carries the path activation took to reach it."""

    query: str | None = None
    embedding: bytes | None = None
    threshold: float = 0.5
    max_results: int = 10
    mode: str = "hybrid"
    max_depth: int = 3
    time_budget_ms: float = 10.0
    trace: bool = False
    filters: Filters | None = None


class GetMemory(msgspec.Struct, tag="get_memory"):
    id: str


class ListMemories(msgspec.Struct, tag="list_memories", omit_defaults=True):
    offset: int = 0
    limit: int = 100
    include_embeddings: bool = False
    filters: Filters | None = None


class DeleteMemory(msgspec.Struct, tag="delete_memory"):
    id: str


class Search(msgspec.Struct, tag="search", omit_defaults=True):
    """Content search: memories whose content contains the query's words, best coverage first."""

    query: str
    limit: int = 10
    filters: Filters | None = None


class Associate(msgspec.Struct, tag="associate", omit_defaults=True):
    """An explicit association between two memories of one space (the original's Associate)."""

    source: str
    target: str
    weight: float = 1.0


class Consolidate(msgspec.Struct, tag="consolidate", omit_defaults=True):
    """Run a consolidation pass now: cluster similar episodes into semantic patterns."""

    similarity_threshold: float | None = None
    min_cluster_size: int | None = None


class ListConsolidations(msgspec.Struct, tag="list_consolidations", omit_defaults=True):
    max_patterns: int = 100


class GetConsolidation(msgspec.Struct, tag="get_consolidation"):
    id: str


class Status(msgspec.Struct, tag="status"):
    """Measured status of every space (header space None: no default-space fallback here) or of the header's space.

    The router answers it by asking every ready worker (or only the space's owner) for the figures of the spaces it
    has loaded and merging them with its registry; with a space, its owner loads the space to measure it."""


Request = (
    Ping
    | CreateSpace
    | UpdateSpace
    | DeleteSpace
    | ExportSpace
    | ImportSpace
    | ListSpaces
    | GetSpace
    | Remember
    | Recall
    | GetMemory
    | ListMemories
    | DeleteMemory
    | Search
    | Associate
    | Consolidate
    | ListConsolidations
    | GetConsolidation
    | Status
    | EventsSince
)

REGISTRY_OPS = frozenset({"ping", "create_space", "list_spaces", "status"})
"""Ops the router answers itself (``status`` with its workers' figures; ``get_space`` is checked by the router, then
answered by the owning worker)."""

LIFECYCLE_OPS = frozenset({"create_space", "update_space", "delete_space", "get_space", "export_space", "import_space"})
"""Ops on a space as a whole: never held back by its ``max_rps`` quota, so an operator can always lift it."""

CREATING_OPS = frozenset({"remember"})
"""Ops that create their space when it does not exist yet (as the original Engram does)."""

MUTATING_OPS = frozenset({"remember", "delete_memory", "associate", "consolidate"})
"""Ops that append to the space's write-ahead log: their replies wait for the batch's fsync."""

# ---------------------------------------------------------------------------------------------------------------
# Results


class ErrorInfo(msgspec.Struct):
    code: str
    message: str
    hint: str = ""
    retry_after_s: float | None = None


class Reply(msgspec.Struct, array_like=True):
    request_id: int
    error: ErrorInfo | None = None
    result: msgspec.Raw = msgspec.Raw(b"\xc0")  # msgpack nil when there is an error


class WorkerRef(msgspec.Struct):
    id: int
    pid: int


class WorkerStatus(msgspec.Struct):
    id: int
    pid: int | None
    alive: bool
    ready: bool
    restarts: int
    spaces: int


class Health(msgspec.Struct):
    status: str  # "ok" when every worker is ready, else "degraded"
    workers: list[WorkerStatus]
    spaces: int


SPACE_ACTIVE = "active"
SPACE_DELETED = "deleted"


SPACE_LOADED = "loaded"
SPACE_OFFLOADED = "offloaded"
SPACE_UNAVAILABLE = "unavailable"


class SpaceStatus(msgspec.Struct):
    """One space's measured figures. ``state``: "loaded" (figures measured by its worker now), "offloaded" (on disk
    only: not measured, so ``memories`` and ``pressure`` are None) or "unavailable" (its worker is down or did not
    answer in time). ``pressure`` is ``memories`` over the capacity recall's activation is scaled by;
    ``wal_lag_ms`` the age of the oldest write not fsynced yet (None for "none" spaces, which never fsync);
    ``consolidation_backlog`` episodes changed since the last consolidation pass; ``worker`` the owning worker;
    ``paced_rps`` the rate the router holds the space to while it takes the CPU from others (None: not paced;
    router/pacing.py)."""

    space: str
    state: str
    worker: int
    memories: int | None = None
    pressure: float | None = None
    wal_lag_ms: float | None = None
    consolidation_backlog: int | None = None
    paced_rps: float | None = None


class SpaceStatusList(msgspec.Struct):
    """A worker's answer to ``status`` (router-internal): its loaded spaces, or the one space asked for."""

    spaces: list[SpaceStatus]


class SystemStatus(msgspec.Struct):
    """The answer to ``status``: "ok" when every worker is ready (else "degraded"), each active space of the
    registry (or only the one asked for), sorted by id, and each worker."""

    status: str
    generated_at: float
    spaces: list[SpaceStatus]
    workers: list[WorkerStatus]


class SpaceSummary(msgspec.Struct):
    """A space as the registry knows it. ``state`` is "active" or "deleted" (a tombstone: listed only when asked
    with ``include_deleted``, ``deleted_at`` set)."""

    id: str
    dim: int
    created_at: float
    state: str = SPACE_ACTIVE
    policy: SpacePolicy = SpacePolicy()
    deleted_at: float | None = None


class SpaceCreated(msgspec.Struct):
    created: bool
    space: SpaceSummary


class SpaceList(msgspec.Struct):
    spaces: list[SpaceSummary]


class SpaceDetail(msgspec.Struct):
    id: str
    dim: int
    created_at: float
    memories: int
    worker: WorkerRef
    segments: int = 0  # sealed index segments (workers/index.py)
    buffer: int = 0  # live memories not in a segment yet, searched exactly
    state: str = SPACE_ACTIVE
    policy: SpacePolicy = SpacePolicy()
    stored_bytes: int = 0  # approximate bytes of its live memories, what ``max_bytes`` limits


class SpaceDeleted(msgspec.Struct):
    """The space is tombstoned and closed; its directory is being purged in the background."""

    id: str
    state: str = SPACE_DELETED


class Link(msgspec.Struct):
    """An association edge as seen from one memory. ``kind``: "explicit", "similarity", "episode" or "temporal"."""

    target: str
    weight: float
    kind: str


class StoredMemory(msgspec.Struct):
    """What remember reports for one memory. ``activation`` is the stored confidence scaled by the space's memory
    pressure, as the original Engram reports it in ``storage_confidence``. ``links`` are the edges auto-linking made."""

    id: str
    confidence: float
    activation: float
    observed_at: float
    stored_at: float
    replaced: bool
    links: list[Link] = []


class Remembered(msgspec.Struct):
    memories: list[StoredMemory]


class MemoryRecord(msgspec.Struct, omit_defaults=True):
    """A memory as stored. ``confidence`` is the stored confidence; ``current_confidence`` is it after decay since
    ``last_access`` (the forgetting curve, see docs/memory-model.md)."""

    id: str
    content: str
    confidence: float
    observed_at: float
    stored_at: float
    last_access: float
    embedding_source: str  # "client" or "builtin"
    embedding: bytes | None = None
    kind: str = "memory"  # "memory" or "episode"
    current_confidence: float | None = None
    access_count: int = 0
    decay_rate: float | None = None
    tags: list[str] = []
    memory_type: str | None = None
    metadata: dict[str, str] = {}
    confidence_reasoning: str | None = None
    episode: EpisodeContext | None = None
    links: list[Link] = []


class Hit(msgspec.Struct, omit_defaults=True):
    """One recalled memory. ``similarity`` is the cue's similarity (0 for memories reached only by spreading),
    ``activation`` the spreading activation it received, ``score`` the blended rank, ``retrieval`` how it was found
    ("similarity" or "spreading") and ``path`` the memory ids activation travelled through (with trace)."""

    memory: MemoryRecord
    similarity: float
    activation: float = 0.0
    score: float = 0.0
    retrieval: str = "similarity"
    depth: int = 0
    path: list[str] = []


class RecallResult(msgspec.Struct):
    hits: list[Hit]
    searched: int
    spread_hops: int = 0
    elapsed_ms: float = 0.0


class MemoryPage(msgspec.Struct):
    memories: list[MemoryRecord]
    total: int


class Deleted(msgspec.Struct):
    id: str


class Associated(msgspec.Struct):
    source: str
    target: str
    weight: float


class Citation(msgspec.Struct):
    """An episode a semantic pattern was consolidated from."""

    episode_id: str
    observed_at: float
    stored_at: float
    last_access: float
    encoding_confidence: float
    content_preview: str


class Pattern(msgspec.Struct):
    """A semantic pattern: what a cluster of similar episodes has in common, with citations back to them."""

    id: str
    summary: str
    strength: float
    schema_confidence: float
    last_consolidated: float
    citations: list[Citation]
    embedding: bytes | None = None


class ConsolidationStats(msgspec.Struct):
    total_runs: int = 0
    last_run_at: float | None = None
    episodes_considered: int = 0
    patterns: int = 0


class ExportedSpace(msgspec.Struct):
    archive: bytes
    memories: int


class Consolidations(msgspec.Struct):
    generated_at: float
    patterns: list[Pattern]
    stats: ConsolidationStats


RESULT_TYPES: dict[str, type] = {
    "ping": Health,
    "create_space": SpaceCreated,
    "update_space": SpaceSummary,
    "delete_space": SpaceDeleted,
    "export_space": ExportedSpace,
    "import_space": SpaceCreated,
    "list_spaces": SpaceList,
    "get_space": SpaceDetail,
    "remember": Remembered,
    "recall": RecallResult,
    "get_memory": MemoryRecord,
    "list_memories": MemoryPage,
    "delete_memory": Deleted,
    "search": MemoryPage,
    "associate": Associated,
    "consolidate": Consolidations,
    "list_consolidations": Consolidations,
    "get_consolidation": Pattern,
    "status": SystemStatus,
    "events_since": EventBacklog,
}

# ---------------------------------------------------------------------------------------------------------------
# Control messages between router and workers


class WorkerReady(msgspec.Struct, tag="worker_ready"):
    worker_id: int
    pid: int


# Encoders and decoders are built once and reused on every hot path.
ENCODER = msgspec.msgpack.Encoder()
HEADER_DECODER = msgspec.msgpack.Decoder(Header)
REQUEST_DECODER = msgspec.msgpack.Decoder(Request)
PLACEMENT_DECODER = msgspec.msgpack.Decoder(Placement)
REPLY_DECODER = msgspec.msgpack.Decoder(Reply)
CONTROL_DECODER = msgspec.msgpack.Decoder(WorkerReady)
_RESULT_DECODERS = {op: msgspec.msgpack.Decoder(t) for op, t in RESULT_TYPES.items()}


def op_of(request: Request) -> str:
    """The op name of a request struct (its msgspec tag)."""
    return type(request).__struct_config__.tag  # type: ignore[return-value]


def ok_reply(request_id: int, result: msgspec.Struct) -> bytes:
    return ENCODER.encode(Reply(request_id, None, msgspec.Raw(ENCODER.encode(result))))


def error_reply(request_id: int, error: ErrorInfo) -> bytes:
    return ENCODER.encode(Reply(request_id, error))


def decode_result(op: str, reply: Reply) -> msgspec.Struct:
    """Decode the result of a successful reply to ``op``."""
    return _RESULT_DECODERS[op].decode(reply.result)
