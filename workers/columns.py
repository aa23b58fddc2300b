"""The memories of one space as columns: one row per stored memory, numpy arrays beside Python lists.

Why columns: recall scores every memory at once (one matrix product over ``units``), and the per-row metadata
it sorts by must be arrays too. Embeddings are kept as unit vectors, so a dot product is a cosine, with the
norm beside them so the embedding a client sent can be given back.

Rows are only appended. Replacing a memory appends its new row and tombstones the old one, so row order is the
order of the newest writes, which is what listing shows. Tombstoned rows are dropped by ``compact`` once they
are the majority (and numerous enough for a copy of everything to be worth it).

Growing never copies the arrays while they fit in their reservation. Doubling fresh arrays and copying the rows
over stalled the worker's loop, and with it every other space of the worker, for longer the bigger the space got:
150 ms at 32k rows of dim 768 under load, on the reference machine. So all the arrays of a space are views into one
anonymous private mapping of ``RESERVED_BYTES`` of address space (``MAP_NORESERVE``: memory is only taken by the
pages rows are written to), and growing widens the views. Only a space past its reservation (340k rows at dim 768,
2M at dim 128), or a compaction, copies. Where the mapping cannot be made, plain arrays are used.

Each reservation is hidden from ``fork`` (``MADV_DONTFORK``) except while the space it belongs to is being forked
for its snapshot (``inherited_by_fork``). A fork copies the page tables of every populated range, and the arrays of
a space sit far apart in its reservation, so each space cost the fork a few page-table pages: with 1,000 spaces of
10 rows held, a fork paused the worker, and every space it serves, for 42 ms; with the reservations left out,
0.9 ms (bench/fork_pause.py). The snapshot child reads only its own space, so it needs no other space's reservation.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import sys
from collections.abc import Iterator

import numpy as np

log = logging.getLogger(__name__)

INITIAL_CAPACITY_ROWS = 64
RESERVED_BYTES = 1 << 30
"""Address space reserved for a space's columns (not memory). A worker keeps at most ``max_resident_spaces`` (4096)
spaces loaded: 4 TiB of a 128 TiB address space."""
RESERVE_GROWTH = 4
"""A space past its reservation gets one for this many times its rows, so it copies once per 4x of growth."""
_MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000 if sys.platform.startswith("linux") else 0)  # 3.13+ names it
_MADV_DONTFORK = getattr(mmap, "MADV_DONTFORK", None)  # Linux only
_MADV_DOFORK = getattr(mmap, "MADV_DOFORK", None)
_ALIGN = 64
COMPACT_MIN_TOMBSTONES = 1024

_DTYPES = {
    "units": np.dtype(np.float32),  # unit vectors, ``dim`` wide; every other array has one value per row
    "norms": np.dtype(np.float64),  # float64: a float32 norm can overflow
    "confidence": np.dtype(np.float64),
    "observed_at": np.dtype(np.float64),
    "stored_at": np.dtype(np.float64),
    "last_access": np.dtype(np.float64),
    "live": np.dtype(bool),
    "builtin": np.dtype(bool),  # embedding from the built-in text embedder
    "serials": np.dtype(np.int64),  # stable identity of a row's write (workers/index.py)
}
_ARRAYS = tuple(_DTYPES)
SAVED_ARRAYS = tuple(name for name in _ARRAYS if name != "live")
"""The arrays a snapshot saves, live rows only (so ``live`` is all true and not saved): workers/snapshot.py."""


class Columns:
    """Row storage with capacity doubling. Not thread-safe: the worker loop owns it."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.rows = 0  # rows in use, live or tombstoned
        self.live_count = 0
        self.next_serial = 1  # serials are handed out in row order, so ``serials`` is always sorted
        self.ids: list[str] = []
        self.content: list[str] = []
        self.row_of: dict[str, int] = {}  # live memories only
        self._allocate(INITIAL_CAPACITY_ROWS)

    def _allocate(self, capacity: int) -> None:
        """Zeroed arrays of ``capacity`` rows: views into a fresh reservation with room to grow (module docstring)."""
        widths = self._widths()
        row_bytes = sum(dtype.itemsize * width for dtype, width in widths.values())
        reserved = max(capacity * RESERVE_GROWTH, RESERVED_BYTES // row_bytes)
        try:
            self._region: mmap.mmap | None = mmap.mmap(
                -1, reserved * row_bytes + _ALIGN * len(widths), flags=mmap.MAP_PRIVATE | _MAP_NORESERVE
            )
        except (OSError, ValueError, OverflowError):  # no address space to spare: plain arrays, copied to grow
            self._region, reserved = None, capacity
        self._reserved_rows = reserved
        self._hide_from_fork()
        self._views(capacity)

    @contextlib.contextmanager
    def inherited_by_fork(self) -> Iterator[None]:
        """Within this block a ``fork`` child gets this space's arrays (they are hidden from forks otherwise: see
        the module docstring). Raises OSError when the kernel refuses, before anything is forked."""
        if self._region is not None and _MADV_DOFORK is not None:
            self._region.madvise(_MADV_DOFORK)
        try:
            yield
        finally:
            self._hide_from_fork()

    def _hide_from_fork(self) -> None:
        """Leave the reservation out of forked children; where the kernel refuses, forks just stay slower."""
        if self._region is None or _MADV_DONTFORK is None:
            return
        try:
            self._region.madvise(_MADV_DONTFORK)
        except OSError as exc:
            log.warning("cannot hide a space's columns from forks (%s); snapshot forks pause longer", exc)

    def _widths(self) -> dict[str, tuple[np.dtype, int]]:
        return {name: (dtype, self.dim if name == "units" else 1) for name, dtype in _DTYPES.items()}

    def _views(self, capacity: int) -> None:
        """Point every array at its first ``capacity`` rows of the reservation (rows already written stay)."""
        offset = 0
        for name, (dtype, width) in self._widths().items():
            shape = (capacity, width) if name == "units" else (capacity,)
            if self._region is None:
                setattr(self, name, np.zeros(shape, dtype=dtype))
                continue
            whole = np.frombuffer(self._region, dtype=dtype, count=self._reserved_rows * width, offset=offset)
            setattr(self, name, whole[: capacity * width].reshape(shape))
            offset += -(-self._reserved_rows * width * dtype.itemsize // _ALIGN) * _ALIGN

    @classmethod
    def from_live_rows(
        cls, dim: int, arrays: dict[str, np.ndarray], ids: list[str], content: list[str], next_serial: int
    ) -> Columns:
        """Columns holding the live rows a snapshot saved (``SAVED_ARRAYS``, in row order), with room to grow.
        The arrays may be memory-mapped: they are copied, so their files can go."""
        rows = len(ids)
        columns = cls(dim)
        columns._allocate(max(INITIAL_CAPACITY_ROWS, rows + rows // 4))
        for name in SAVED_ARRAYS:
            getattr(columns, name)[:rows] = arrays[name]
        columns.live[:rows] = True
        columns.ids = ids
        columns.content = content
        columns.row_of = {memory_id: row for row, memory_id in enumerate(ids)}
        columns.rows = columns.live_count = rows
        columns.next_serial = next_serial
        return columns

    @property
    def capacity(self) -> int:
        return len(self.live)

    @property
    def tombstones(self) -> int:
        return self.rows - self.live_count

    def append(
        self,
        memory_id: str,
        content: str,
        unit: np.ndarray,
        norm: float,
        builtin: bool,
        confidence: float,
        observed_at: float,
        stored_at: float,
        serial: int,
    ) -> int:
        """Add a live row for ``memory_id`` (the caller tombstones any older row of the same id first)."""
        if self.rows == self.capacity:
            self._grow(2 * self.capacity)
        row = self.rows
        self.units[row] = unit
        self.norms[row] = norm
        self.confidence[row] = confidence
        self.observed_at[row] = observed_at
        self.stored_at[row] = stored_at
        self.last_access[row] = stored_at
        self.live[row] = True
        self.builtin[row] = builtin
        self.serials[row] = serial
        self.next_serial = max(self.next_serial, serial + 1)
        self.ids.append(memory_id)
        self.content.append(content)
        self.row_of[memory_id] = row
        self.rows += 1
        self.live_count += 1
        return row

    def tombstone(self, row: int) -> None:
        del self.row_of[self.ids[row]]
        self.live[row] = False
        self.content[row] = ""  # the text is the bulk of a row's Python memory
        self.live_count -= 1

    def embedding(self, row: int) -> bytes:
        """The embedding as stored (unit vector times norm), as little-endian float32 bytes."""
        return (self.units[row].astype(np.float64) * self.norms[row]).astype("<f4").tobytes()

    def wants_compaction(self) -> bool:
        return self.tombstones > COMPACT_MIN_TOMBSTONES and 2 * self.tombstones > self.rows

    def compact(self) -> np.ndarray:
        """Drop tombstoned rows, keeping order. Returns the new row of every old row (-1 for dropped ones), so
        structures that refer to rows can follow."""
        keep = np.flatnonzero(self.live[: self.rows])
        new_row = np.full(self.rows, -1, dtype=np.intp)
        new_row[keep] = np.arange(len(keep))
        self._reallocate(max(INITIAL_CAPACITY_ROWS, 2 * len(keep)), keep)
        self.ids = [self.ids[row] for row in keep]
        self.content = [self.content[row] for row in keep]
        self.row_of = {memory_id: row for row, memory_id in enumerate(self.ids)}
        self.rows = len(keep)
        return new_row

    def _grow(self, capacity: int) -> None:
        if capacity <= self._reserved_rows and self._region is not None:
            self._views(capacity)  # the same memory, longer views: nothing is copied
        else:
            self._reallocate(capacity, slice(0, self.rows))

    def _reallocate(self, capacity: int, kept_rows: np.ndarray | slice) -> None:
        """New arrays of ``capacity`` rows holding ``kept_rows`` of the old ones, in order."""
        old = {name: getattr(self, name) for name in _ARRAYS}
        self._allocate(capacity)
        for name, array in old.items():
            kept = array[kept_rows]
            getattr(self, name)[: len(kept)] = kept
