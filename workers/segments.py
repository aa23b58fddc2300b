"""Sealed index segments of one space: immutable pynndescent indexes over a fixed set of its vectors.

Why segments: pynndescent answers a query over 100k vectors in about 0.1 ms where an exact scan takes 10 ms, but it
cannot take writes (``update()`` reruns NN-descent over everything, O(N)). So fresh writes sit in an exact buffer
and a compaction seals them into a segment built once, from scratch, in the index-builder process
(workers/builder.py); merging segments is a new build too. See docs/index.md.

Identity: a segment refers to memories by their per-space ``serial`` (workers/records.py), never by row, because
rows move when the columns compact. Its vectors are stored in serial order, so ``serials`` is sorted and a
vector's position in the index maps to its serial by a lookup.

Files, in the space's ``hot/`` directory, for a segment named ``seg-000007-3fa2c1``:
``<name>.serials.npy`` (int64), ``<name>.vectors.npy`` (float32 unit vectors, kept so a merge can read them
without the worker writing them again) and ``<name>.nnd`` (the pickled, prepared index). ``index.json`` lists the
segments that are part of the index; a file of a segment it does not list is garbage from an interrupted
compaction. Every file is written to a temporary name, fsynced and renamed, so a reader sees all or nothing.

pynndescent (and with it numba) is imported only by the first build or the first unpickled segment of a process,
so a process that never meets an index never pays its JIT start-up cost.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import re
import secrets
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import msgspec
import numpy as np

from engram.atomic import write_atomic, write_atomic_stream

log = logging.getLogger(__name__)

INDEX_FORMAT = 1
MANIFEST_FILE = "index.json"

METRIC = "cosine"
N_NEIGHBORS = 30
SEARCH_TREE_LEAF_BUDGET = 16
"""Spill each query's tree descent into 16 leaves. With the default of 1, clustered data splits the search graph
into disconnected components and recall@10 at 100k falls to about 0.63; 16 lifts it to about 0.97 at no build
cost (reference/measurements.md A.3, re-measured by bench/recall_quality.py)."""
QUERY_EPSILON = 0.15
"""pynndescent's search slack. Measured at 100k memories (three segments and a buffer, with the over-fetch of
workers/index.py): clustered vectors reach recall@10 0.98 already at 0.1, but the built-in text embedder's vectors
are harder (0.94 at 0.1, 0.97 at 0.15, same at 0.2 with a higher p99), see docs/index.md."""
MIN_SEGMENT_ROWS = 64
"""NN-descent needs more points than neighbours per point; fewer rows than this stay in the exact buffer."""

_NAME = re.compile(r"seg-\d{6}-[0-9a-f]{6}")


class Searcher(Protocol):
    """What a segment needs from its index: ``pynndescent.NNDescent.query`` (tests use an exact stand-in)."""

    def query(
        self, query_data: np.ndarray, k: int, epsilon: float, pre_normalized: bool
    ) -> tuple[np.ndarray, np.ndarray]: ...


class SegmentInfo(msgspec.Struct):
    """One segment as ``index.json`` lists it. ``first_serial``/``last_serial`` bound the serials it holds."""

    name: str
    rows: int
    first_serial: int
    last_serial: int
    build_s: float = 0.0


class Manifest(msgspec.Struct):
    """``hot/index.json``: the segments of the index. ``watermark`` is the highest serial a seal covered: a live
    memory with a serial above it is in the exact buffer; one at or below it is in a segment, unless that segment
    was lost (then the index finds it missing on load and searches it exactly until the next seal)."""

    format: int = INDEX_FORMAT
    next_id: int = 1
    watermark: int = 0
    segments: list[SegmentInfo] = []


class SegmentFiles(NamedTuple):
    serials: Path
    vectors: Path
    index: Path


def segment_files(hot_dir: Path, name: str) -> SegmentFiles:
    return SegmentFiles(hot_dir / f"{name}.serials.npy", hot_dir / f"{name}.vectors.npy", hot_dir / f"{name}.nnd")


def new_segment_name(sequence: int) -> str:
    """A name never used before in this space, even by a job a crashed or restarted worker left behind."""
    return f"seg-{sequence:06d}-{secrets.token_hex(3)}"


class Segment:
    """A loaded segment: its index and the serial of every vector in it (index order = serial order)."""

    def __init__(self, info: SegmentInfo, serials: np.ndarray, searcher: Searcher) -> None:
        self.info = info
        self.serials = serials
        self.searcher = searcher
        self.live = len(serials)  # kept up to date by the space's index as its memories are deleted

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def size(self) -> int:
        return len(self.serials)

    def query(self, unit_query: np.ndarray, k: int) -> np.ndarray:
        """Serials of (about) the ``k`` vectors nearest to a unit query, best first."""
        indices, _ = self.searcher.query(
            unit_query[None, :], k=min(k, self.size), epsilon=QUERY_EPSILON, pre_normalized=True
        )
        found = indices[0]
        return self.serials[found[found >= 0]]

    def contains(self, serials: np.ndarray) -> np.ndarray:
        """Per serial: whether this segment holds it."""
        positions = np.minimum(np.searchsorted(self.serials, serials), self.size - 1)
        return self.serials[positions] == serials


# -- files ---------------------------------------------------------------------------------------------------


def load_manifest(hot_dir: Path) -> Manifest:
    """The manifest, or an empty one when there is none yet. A damaged manifest is logged and treated as empty:
    the index then searches every memory exactly until compaction seals them again, so nothing is lost."""
    path = hot_dir / MANIFEST_FILE
    try:
        manifest = msgspec.json.decode(path.read_bytes(), type=Manifest)
    except FileNotFoundError:
        return Manifest()
    except (OSError, msgspec.DecodeError) as exc:
        log.error("index manifest %s cannot be read (%s); its segments will be rebuilt", path, exc)
        return Manifest()
    if manifest.format != INDEX_FORMAT:
        log.error("index manifest %s has format %d, not %d; rebuilding", path, manifest.format, INDEX_FORMAT)
        return Manifest(next_id=manifest.next_id)
    return manifest


def save_manifest(hot_dir: Path, manifest: Manifest) -> None:
    write_atomic(hot_dir / MANIFEST_FILE, msgspec.json.encode(manifest))


def load_segment(hot_dir: Path, info: SegmentInfo) -> Segment:
    """Unpickle a segment (importing pynndescent on first use). Raises ``ValueError`` or ``OSError`` when its
    files are missing or do not agree with each other or the manifest."""
    files = segment_files(hot_dir, info.name)
    serials = np.load(files.serials)
    with files.index.open("rb") as source:
        searcher = pickle.load(source)  # our own file, written by our builder: never data from a client
    if serials.dtype != np.int64 or serials.ndim != 1 or len(serials) != info.rows:
        raise ValueError(f"{files.serials.name} holds {serials.shape} {serials.dtype}, expected {info.rows} int64")
    if len(serials) and (int(serials[0]) != info.first_serial or int(serials[-1]) != info.last_serial):
        raise ValueError(f"{files.serials.name} does not hold serials {info.first_serial}..{info.last_serial}")
    indexed = getattr(searcher, "_raw_data", None)
    if indexed is not None and len(indexed) != len(serials):
        raise ValueError(f"{files.index.name} indexes {len(indexed)} vectors, its serials {len(serials)}")
    return Segment(info, serials, searcher)


def remove_segment_files(hot_dir: Path, name: str) -> None:
    """Delete a segment's files (and any temporary file of them); missing ones are fine."""
    for path in (*segment_files(hot_dir, name), *hot_dir.glob(f".{name}.*.tmp")):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def sweep(hot_dir: Path, keep: set[str]) -> list[str]:
    """Delete segment files of segments not in ``keep`` (left by interrupted compactions); return their names."""
    stray = set()
    for path in hot_dir.iterdir():
        name = path.name.lstrip(".").split(".", 1)[0]
        if _NAME.fullmatch(name) and name not in keep:
            stray.add(name)
    for name in stray:
        remove_segment_files(hot_dir, name)
    return sorted(stray)


def save_array(path: Path, array: np.ndarray) -> None:
    write_atomic_stream(path, lambda out: np.save(out, array, allow_pickle=False))


def save_index(path: Path, searcher: Any) -> None:
    write_atomic_stream(path, lambda out: pickle.dump(searcher, out, protocol=pickle.HIGHEST_PROTOCOL))


# -- building (in the index-builder process, or a benchmark) -----------------------------------------------------


def build_index(vectors: np.ndarray) -> Searcher:
    """A prepared, compressed pynndescent index over unit vectors (the builder's only heavy call).

    ``compress_index`` prepares the index (search graph and the shared, disk-cached search function, so a worker
    that unpickles it compiles nothing when the numba cache is warm) and drops what only ``update()`` needs,
    which segments never call: a smaller pickle and less worker memory.
    """
    import pynndescent  # here, not at the top: only processes that build pay numba's start-up cost

    if len(vectors) < MIN_SEGMENT_ROWS:
        raise ValueError(f"a segment needs at least {MIN_SEGMENT_ROWS} vectors, got {len(vectors)}")
    index = pynndescent.NNDescent(
        np.ascontiguousarray(vectors, dtype=np.float32),
        metric=METRIC,
        n_neighbors=min(N_NEIGHBORS, len(vectors) - 1),
        search_tree_leaf_budget=SEARCH_TREE_LEAF_BUDGET,
        low_memory=True,
    )
    index.compress_index()
    return index
