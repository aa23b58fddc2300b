"""One memory space inside the worker that owns it: its memories in memory, its log on disk.

Every change is appended to the space's write-ahead log before it is applied, and opening a space replays the
log, so memory and log never disagree. ``remember`` does not fsync: the worker loop calls ``sync`` once per
batch (group commit) and acknowledges nothing before it returned (DESIGN §5).

Layout (DESIGN §6): ``<data_root>/<space>/{wal,hot,warm,cold}/`` and ``space.json``. ``hot``, ``warm`` and
``cold`` are created now so the layout is complete; snapshots fill them later.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import msgspec
import numpy as np

from engram.atomic import fsync_dir, write_atomic
from engram.embedder import embed_text, tokenize
from engram.errors import EngramError, ErrorCode
from engram.ids import new_memory_id, validate_memory_id, validate_space_id
from engram.protocol import (
    Consolidations,
    Filters,
    Hit,
    MemoryIn,
    MemoryPage,
    MemoryRecord,
    Pattern,
    RecallResult,
    StoredMemory,
)
from workers import validation as check
from workers.columns import Columns
from workers.consolidation import ConsolidationState, EpisodeView
from workers.filters import RowFilter, compile_filters
from workers.lexicon import Lexicon
from workers.records import DeleteRecord, PutRecord, WalRecord, decode_record, encode_record
from workers.wal import RecoveryReport, WalWriter, replay

SPACE_FORMAT = 1
SEARCH_MIN_COVERAGE = 0.5
"""Content search returns memories holding at least half of the query's words (IDF-weighted)."""
PRESSURE_CAPACITY_MEMORIES = 100_000
"""The original Engram's per-space ``max_memories``: activation falls as a space fills up towards it."""

_SUBDIRS = ("wal", "hot", "warm", "cold")


class SpaceSettings(msgspec.Struct):
    """``space.json``. The dimension is fixed for the life of the space: every stored vector has it."""

    id: str
    dim: int
    created_at: float
    format: int = SPACE_FORMAT


class _Put(NamedTuple):
    """A validated memory, ready to be logged and applied."""

    record: PutRecord
    unit: np.ndarray
    norm: float


class Space:
    """All state of one memory space; built by ``Space.open``. Not thread-safe: the worker loop owns it."""

    def __init__(self, settings: SpaceSettings, wal: WalWriter) -> None:
        self._settings = settings
        self._wal = wal
        self._columns = Columns(settings.dim)
        self._lexicon = Lexicon()

    # -- lifecycle -------------------------------------------------------------------------------------------

    @classmethod
    def open(cls, data_root: Path, space_id: str, dim: int, created_at: float) -> tuple[Space, RecoveryReport]:
        """Open (creating if needed) the space and replay its log. ``dim`` and ``created_at`` only apply to a
        new space: an existing ``space.json`` wins."""
        space_id = validate_space_id(space_id)
        directory = Path(data_root) / space_id
        _make_dirs(directory)
        settings = _load_or_create_settings(directory, SpaceSettings(space_id, dim, created_at))
        # Replay before opening the writer: replay cuts off a damaged tail that appends must not follow.
        payloads, report = replay(directory / "wal")
        space = cls(settings, WalWriter.open(directory / "wal"))
        space.consolidation = ConsolidationState(directory)
        try:
            space._replay(payloads)
        except BaseException:
            space.close()
            raise
        return space, report

    def _replay(self, payloads: list[bytes]) -> None:
        for index, payload in enumerate(payloads):
            try:
                self._apply(decode_record(payload))
            except (msgspec.DecodeError, ValueError) as exc:  # DecodeError includes ValidationError
                raise EngramError(
                    ErrorCode.MEMORY_SYSTEM_ERROR,
                    f"Record {index} of the write-ahead log of memory space '{self.space_id}' cannot be applied: {exc}",
                    hint="The log was written by an incompatible version, or damaged; see the server log.",
                ) from exc

    def sync(self) -> None:
        """Make every change so far durable; raises OSError if it could not (then acknowledge nothing)."""
        self._wal.sync()

    @property
    def dirty(self) -> bool:
        """True when changes are waiting for ``sync``."""
        return self._wal.dirty

    def close(self) -> None:
        """Sync and close the log (closed even when the sync fails, which then raises)."""
        self._wal.close()

    @property
    def space_id(self) -> str:
        return self._settings.id

    @property
    def dim(self) -> int:
        return self._settings.dim

    @property
    def created_at(self) -> float:
        return self._settings.created_at

    @property
    def count(self) -> int:
        return self._columns.live_count

    # -- writes ---------------------------------------------------------------------------------------------

    def remember(self, memories: list[MemoryIn], now: float) -> list[StoredMemory]:
        """Store memories (an existing id is replaced). All are checked first: one bad memory stores none."""
        puts = self._validate(memories, now)
        stored = []
        for put in puts:
            self._wal.append(encode_record(put.record))
            replaced = self._put(put.record, put.unit, put.norm)
            record = put.record
            pressure = self.count / PRESSURE_CAPACITY_MEMORIES
            activation = min(1.0, max(0.0, record.confidence * (1.0 - 0.5 * pressure)))
            stored.append(StoredMemory(record.id, record.confidence, activation, record.observed_at, now, replaced))
        self.consolidation.note_change()
        return stored

    def delete(self, memory_id: str, now: float) -> None:
        """Delete a memory (MEMORY_NOT_FOUND if there is none); like ``remember``, durable after ``sync``."""
        self._row(memory_id)
        record = DeleteRecord(memory_id, now)
        self._wal.append(encode_record(record))
        self._apply(record)
        self.consolidation.note_change()

    def _validate(self, memories: list[MemoryIn], now: float) -> list[_Put]:
        puts: list[_Put] = []
        batch_ids: set[str] = set()
        for memory in memories:
            check.check_content(memory.content)
            check.check_confidence(memory.confidence)
            observed_at = now if memory.observed_at is None else memory.observed_at
            check.check_timestamp(observed_at)
            if memory.embedding is None:
                unit, norm, source = embed_text(memory.content, self.dim), 1.0, "builtin"
                raw = unit.astype("<f4").tobytes()
            else:
                (unit, norm), source = check.check_embedding(memory.embedding, self.dim), "client"
                raw = memory.embedding
            if memory.id is None:
                memory_id = new_memory_id()
                while memory_id in self._columns.row_of or memory_id in batch_ids:
                    memory_id = new_memory_id()
            else:
                memory_id = validate_memory_id(memory.id)
            batch_ids.add(memory_id)
            record = PutRecord(memory_id, memory.content, raw, source, memory.confidence, observed_at, now)
            puts.append(_Put(record, unit, norm))
        return puts

    def _apply(self, record: WalRecord) -> None:
        """Apply a logged record (on replay, or right after logging it)."""
        match record:
            case PutRecord(embedding=raw, embedding_source=source):
                if source == "builtin":
                    unit, norm = np.frombuffer(raw, dtype="<f4"), 1.0
                else:
                    unit, norm = check.check_embedding(raw, self.dim)
                self._put(record, unit, norm)
            case DeleteRecord(id=memory_id):
                row = self._columns.row_of.get(memory_id)
                if row is not None:
                    self._drop(row)

    def _put(self, record: PutRecord, unit: np.ndarray, norm: float) -> bool:
        """Store a memory's new row; True when it replaced a live memory of the same id."""
        old_row = self._columns.row_of.get(record.id)
        if old_row is not None:
            self._drop(old_row)
        builtin = record.embedding_source == "builtin"
        columns = self._columns
        row = columns.append(
            record.id,
            record.content,
            unit,
            norm,
            builtin,
            record.confidence,
            record.observed_at,
            record.stored_at,
        )
        self._lexicon.add(row, set(tokenize(record.content)))
        return old_row is not None

    def _drop(self, row: int) -> None:
        self._lexicon.remove(row, set(tokenize(self._columns.content[row])))
        self._columns.tombstone(row)
        if self._columns.wants_compaction():
            self._lexicon.renumber(self._columns.compact())

    # -- reads ----------------------------------------------------------------------------------------------

    def get(self, memory_id: str) -> MemoryRecord:
        return self._record(self._row(memory_id), include_embedding=True)

    def list(
        self, offset: int, limit: int, include_embeddings: bool, filters: Filters | None = None
    ) -> MemoryPage:
        """Live memories (that pass ``filters``) in the order of their newest write; ``total`` counts them all."""
        check.check_page(offset, limit)
        matching = np.flatnonzero(self.filter_mask(filters))
        rows = matching[offset : offset + limit]
        return MemoryPage([self._record(int(row), include_embeddings) for row in rows], len(matching))

    def recall(
        self, query: str | None, embedding: bytes | None, threshold: float, max_results: int, now: float
    ) -> RecallResult:
        """The memories most similar to a text query, an embedding, or both (the higher score counts).

        Returned memories count as accessed now (in memory only: access times are not logged).
        """
        check.check_recall(query, embedding, threshold, max_results)
        unit_query = None if embedding is None else check.check_embedding(embedding, self.dim)[0]
        text = query if query is not None and query.strip() else None
        columns = self._columns
        if columns.live_count == 0:
            return RecallResult([], 0)
        scores = np.zeros(columns.rows, dtype=np.float64)
        if text is not None:
            scores = np.maximum(scores, self._text_scores(text))
        if unit_query is not None:
            scores = np.maximum(scores, self._similarities(unit_query))
        scores = np.clip(scores, 0.0, 1.0)
        candidates = np.flatnonzero(columns.live[: columns.rows] & (scores >= threshold))
        if len(candidates) > max_results:  # sort only the top (with every tie of the last place)
            kth_best = np.partition(scores[candidates], -max_results)[-max_results]
            candidates = candidates[scores[candidates] >= kth_best]
        order = np.lexsort(
            (
                -candidates,
                -columns.stored_at[candidates],
                -columns.confidence[candidates],
                -scores[candidates],
            )
        )
        best = candidates[order[:max_results]]
        columns.last_access[best] = now
        hits = [Hit(self._record(int(row), include_embedding=False), float(scores[row])) for row in best]
        return RecallResult(hits, columns.live_count)

    def _text_scores(self, text: str) -> np.ndarray:
        """Per row: the better of lexical coverage and (for built-in embeddings only) the cosine with the
        query's built-in embedding; an exact memory id scores 1."""
        columns = self._columns
        lexical = self._lexicon.coverage(tokenize(text), columns.rows, columns.live_count)
        vector = np.where(columns.builtin[: columns.rows], self._similarities(embed_text(text, self.dim)), 0.0)
        scores = np.maximum(lexical, vector)
        exact = columns.row_of.get(text.strip())
        if exact is not None:
            scores[exact] = 1.0
        return scores

    def _similarities(self, unit_query: np.ndarray) -> np.ndarray:
        """Cosine of every row with a unit query: an exact scan, the one place an ANN index will plug in."""
        return self._columns.units[: self._columns.rows] @ unit_query

    def _row(self, memory_id: str) -> int:
        row = self._columns.row_of.get(memory_id)
        if row is None:
            raise EngramError(
                ErrorCode.MEMORY_NOT_FOUND,
                f"Memory '{memory_id}' not found in memory space '{self.space_id}'.",
                hint=f"List the memories of '{self.space_id}' to see their ids.",
            )
        return row

    def _record(self, row: int, include_embedding: bool) -> MemoryRecord:
        c = self._columns
        return MemoryRecord(
            id=c.ids[row],
            content=c.content[row],
            confidence=float(c.confidence[row]),
            observed_at=float(c.observed_at[row]),
            stored_at=float(c.stored_at[row]),
            last_access=float(c.last_access[row]),
            embedding_source="builtin" if c.builtin[row] else "client",
            embedding=c.embedding(row) if include_embedding else None,
        )

    # -- search, filters, consolidation --------------------------------------------------------------------

    def search(self, query: str, limit: int, filters: Filters | None) -> MemoryPage:
        """Memories whose content holds the query's words, best IDF-weighted coverage first (newest on ties).
        ``total`` counts every match, ``memories`` the first ``limit`` of them."""
        check.check_page(0, limit)
        columns = self._columns
        coverage = self._lexicon.coverage(tokenize(query), columns.rows, columns.live_count)
        matches = np.flatnonzero(self.filter_mask(filters) & (coverage >= SEARCH_MIN_COVERAGE))
        order = np.lexsort((-columns.stored_at[matches], -coverage[matches]))
        best = matches[order[:limit]]
        return MemoryPage([self._record(int(row), include_embedding=False) for row in best], len(matches))

    def filter_mask(self, filters: Filters | None) -> np.ndarray:
        """Live rows that pass ``filters`` (all live rows without filters)."""
        columns = self._columns
        mask = columns.live[: columns.rows].copy()
        row_filter = compile_filters(filters)
        if row_filter is None:
            return mask
        mask &= row_filter.time_mask(columns.observed_at[: columns.rows])
        if row_filter.checks_rows:
            for row in np.flatnonzero(mask):
                mask[row] = self._row_passes(int(row), row_filter)
        return mask

    def _row_passes(self, row: int, row_filter: RowFilter) -> bool:
        record = self._record(row, include_embedding=False)
        return row_filter.accepts(record.tags, record.metadata, record.kind)

    def consolidate(
        self, now: float, similarity_threshold: float | None = None, min_cluster_size: int | None = None
    ) -> Consolidations:
        """Run a consolidation pass over the space's episodes now (see workers/consolidation.py)."""
        options = {"similarity_threshold": similarity_threshold, "min_cluster_size": min_cluster_size}
        return self.consolidation.run(self._episodes(), now, **{k: v for k, v in options.items() if v is not None})

    def pattern(self, pattern_id: str) -> Pattern:
        pattern = self.consolidation.pattern(pattern_id)
        if pattern is None:
            raise EngramError(
                ErrorCode.CONSOLIDATION_NOT_FOUND,
                f"Consolidation '{pattern_id}' not found in memory space '{self.space_id}'.",
                hint="List the current patterns with GET .../consolidations; a pass may have replaced it.",
            )
        return pattern

    def _episodes(self) -> list[EpisodeView]:
        columns = self._columns
        views = []
        for row in np.flatnonzero(columns.live[: columns.rows]):
            record = self._record(int(row), include_embedding=False)
            if record.kind == "episode":
                views.append(
                    EpisodeView(
                        record.id,
                        columns.units[row].astype(np.float64),
                        record.content,
                        record.confidence,
                        record.observed_at,
                        record.stored_at,
                        record.last_access,
                    )
                )
        return views


def _make_dirs(directory: Path) -> None:
    """Create the space's directories, fsyncing each parent whose entries changed so they survive a crash."""
    if not directory.is_dir():
        directory.mkdir(parents=True)
        fsync_dir(directory.parent)
    missing = [directory / name for name in _SUBDIRS if not (directory / name).is_dir()]
    for path in missing:
        path.mkdir()
    if missing:
        fsync_dir(directory)


def _load_or_create_settings(directory: Path, new: SpaceSettings) -> SpaceSettings:
    path = directory / "space.json"
    if not path.exists():
        write_atomic(path, msgspec.json.encode(new))
        return new
    try:
        settings = msgspec.json.decode(path.read_bytes(), type=SpaceSettings)
    except msgspec.DecodeError as exc:
        raise EngramError(
            ErrorCode.MEMORY_SYSTEM_ERROR,
            f"Settings of memory space '{new.id}' ({path}) cannot be read: {exc}",
            hint="Restore space.json from a backup; it holds the space's id, dim and created_at.",
        ) from exc
    if settings.format != SPACE_FORMAT:
        raise EngramError(
            ErrorCode.MEMORY_SYSTEM_ERROR,
            f"Memory space '{new.id}' has on-disk format {settings.format}; this server reads {SPACE_FORMAT}.",
            hint="Run the Engram version that wrote it, or migrate the space.",
        )
    return settings
