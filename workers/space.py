"""One memory space inside the worker that owns it: its memories in memory, its log on disk.

Every change is appended to the space's write-ahead log before it is applied, and opening a space loads its
newest snapshot and replays the log after it, so memory and log never disagree. ``remember`` does not fsync: the
worker loop calls ``sync`` once per batch (group commit) and acknowledges nothing before it returned (DESIGN §5).

Where its files live is workers/layout.py; ``hot/`` holds the snapshots (workers/snapshot.py; which one a restart
trusts is workers/recovery.py) and the index segments (workers/segments.py, moved between tiers by workers/tiers.py).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from pathlib import Path
from typing import NamedTuple

import msgspec
import numpy as np

from engram.embedder import embed_text, tokenize
from engram.errors import EngramError, ErrorCode
from engram.ids import new_memory_id, validate_memory_id, validate_space_id
from engram.protocol import (
    Associated,
    Consolidations,
    Filters,
    Link,
    MemoryIn,
    MemoryPage,
    MemoryRecord,
    Pattern,
    RecallResult,
    StoredMemory,
)
from workers import decay, recovery, tiers
from workers import snapshot as snapshots
from workers import validation as check
from workers.activation import check_spreading
from workers.columns import Columns
from workers.consolidation import MAX_EPISODES_PER_PASS, ConsolidationState, EpisodeView
from workers.filters import RowFilter, compile_filters
from workers.footprint import stored_bytes_of
from workers.graph import AUTO_LINK_MAX_LINKS, EXPLICIT, strongest_similar
from workers.index import SpaceIndex
from workers.layout import SETTINGS_FILE, SpaceSettings, load_or_create_settings, make_dirs
from workers.lexicon import Lexicon
from workers.profiles import profile_of
from workers.recollection import recollect
from workers.records import DeleteRecord, LinkRecord, PutRecord, TouchRecord, WalRecord, decode_record, encode_record
from workers.recovery import SpaceRecovery
from workers.traits import Traits
from workers.wal import WalWriter, bytes_after, remove_through, replay

log = logging.getLogger(__name__)

SEARCH_MIN_COVERAGE = 0.5
"""Content search returns memories holding at least half of the query's words (IDF-weighted)."""
PRESSURE_CAPACITY_MEMORIES = 100_000
"""The original Engram's per-space ``max_memories``: activation falls as a space fills up towards it."""


class SnapshotCut(NamedTuple):
    """Where a snapshot cuts a space's log (``Space.begin_snapshot``)."""

    generation: int  # the snapshot generation it will be written as
    wal_cut: int  # the last log segment it covers
    appended_bytes: int  # the log writer's count of appended bytes at the cut


class _Put(NamedTuple):
    """A validated memory, ready to be logged and applied."""

    record: PutRecord
    unit: np.ndarray
    norm: float
    link_threshold: float | None = None  # set when the memory asked to be auto-linked by similarity


class Space:
    """All state of one memory space; built by ``Space.open``. Not thread-safe: the worker loop owns it."""

    def __init__(self, directory: Path, settings: SpaceSettings, wal: WalWriter) -> None:
        self.directory = directory
        self._settings = settings
        self._wal = wal
        self._columns = Columns(settings.dim)
        self._lexicon = Lexicon()
        self._traits = Traits()  # profiles, access counts and the association graph (workers/traits.py)
        self._stored_bytes = 0  # see ``stored_bytes``
        self._wal_base_bytes = 0  # log bytes after the newest snapshot's cut when the space was opened ...
        self._appended_at_snapshot = 0  # ... and the writer's count of appended bytes when the last snapshot cut it
        self.recovery = SpaceRecovery()

    # -- lifecycle -------------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls, data_root: Path, space_id: str, dim: int, created_at: float, *, expect_existing: bool = False
    ) -> tuple[Space, SpaceRecovery]:
        """Open (creating if needed) the space: its newest good snapshot plus the log after it (the fallbacks are
        workers/recovery.py's). ``dim`` and ``created_at`` only apply to a new space: an existing ``space.json``
        wins. ``expect_existing``: the registry knows the space, so a missing directory is reported (it starts
        empty). Damaged files never raise; an unreadable ``space.json`` or an incompatible log record raise
        MEMORY_SYSTEM_ERROR, and disk I/O errors OSError: the worker answers that space's requests with them."""
        started = time.monotonic()
        space_id = validate_space_id(space_id)
        directory = Path(data_root) / space_id
        directory_missing = expect_existing and not (directory / SETTINGS_FILE).exists()
        make_dirs(directory)
        settings = load_or_create_settings(directory, SpaceSettings(space_id, dim, created_at))
        start = recovery.start_point(directory / "hot", space_id, settings.dim)
        # Replay before opening the writer: replay cuts off a damaged tail that appends must not follow.
        payloads, wal_report = replay(directory / "wal", start.wal_cut, from_snapshot=start.restored is not None)
        space = cls(directory, settings, WalWriter.open(directory / "wal", first_sequence=start.wal_cut + 1))
        try:
            if start.restored is not None:
                space._columns, space._lexicon, space._traits, space._stored_bytes = start.restored
            space._wal_base_bytes = bytes_after(directory / "wal", start.wal_cut)
            space.consolidation = ConsolidationState(directory)
            space.index = SpaceIndex(directory / "hot", space._columns)
            space._replay(payloads)
            space.consolidation.found_on_open(space._episodes_stored_after(space.consolidation.last_run_at))
            tiers.promote(directory)  # an offloaded space's segments may have been moved to warm/ or cold/
            space.index.load()  # after the replay: the segments refer to rows by serial
        except BaseException:
            space.close()
            raise
        space.recovery = recovery.report(start, wal_report, directory_missing, time.monotonic() - started)
        if not space.recovery.clean:
            log.warning("space %s opened with losses: %s", space_id, space.recovery.summary())
        return space, space.recovery

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

    def snapshot(self) -> snapshots.SnapshotReport:
        """Write the space's state as a new snapshot generation and delete what it makes redundant: snapshots
        older than the two newest, and log segments both of those cover (workers/snapshot.py). Everything
        appended so far is made durable first. Skipped when nothing was logged since the last snapshot. Takes
        about 0.7 s per 100k memories of dim 128 (docs/storage.md), so the worker's loop takes it in a forked child
        instead (workers/background_snapshot.py); this one is for when the space is about to close or be exported.
        On OSError treat the space like after a failed ``sync``: close it and let the next request reopen it from
        disk (nothing acknowledged is lost)."""
        cut = self.begin_snapshot()
        if cut is None:
            return snapshots.SnapshotReport(None, 0, self.count, 0, [], 0.0)
        report = self.write_snapshot(cut)
        self.snapshot_written(cut)
        return report

    def begin_snapshot(self) -> SnapshotCut | None:
        """Cut the log for a snapshot: everything appended so far is made durable and later appends go to a new
        segment. The state at this moment is what ``write_snapshot`` must save, so call that before anything else
        changes the space (or in a child forked right now, whose memory stays as it is). None: nothing was logged
        since the last snapshot."""
        hot = self.directory / "hot"
        if self.wal_bytes_since_snapshot == 0 and snapshots.generations(hot):
            return None
        wal_cut = self._wal.roll()
        return SnapshotCut(snapshots.next_generation(hot), wal_cut, self._wal.appended_bytes)

    def inherited_by_fork(self) -> contextlib.AbstractContextManager[None]:
        """Within this block a forked child gets this space's columns, which forks otherwise leave out."""
        return self._columns.inherited_by_fork()

    def write_snapshot(self, cut: SnapshotCut) -> snapshots.SnapshotReport:
        """Write the state as of ``cut`` as its snapshot generation, then delete the snapshots and log segments it
        makes redundant. Touches only files: a forked child can run it (workers/background_snapshot.py)."""
        started = time.monotonic()
        hot, wal_dir = self.directory / "hot", self.directory / "wal"
        taken = snapshots.capture(self._columns, self._traits, self._lexicon, self._stored_bytes)
        written = snapshots.write(hot, cut.generation, self.space_id, cut.wal_cut, taken)
        removed = remove_through(wal_dir, snapshots.prune(hot))
        elapsed = time.monotonic() - started
        log.info("space %s: snapshot %d of %d memories (%d bytes, log <= %d) in %.3f s; %d log segment(s) deleted",
                 self.space_id, written.generation, len(taken.state.ids), written.bytes, cut.wal_cut, elapsed,
                 len(removed))  # fmt: skip
        return snapshots.SnapshotReport(
            written.generation, cut.wal_cut, len(taken.state.ids), written.bytes, removed, elapsed
        )

    def snapshot_written(self, cut: SnapshotCut) -> None:
        """The snapshot of ``cut`` is on disk: the log tail to replay on the next open starts at its cut."""
        self._appended_at_snapshot, self._wal_base_bytes = cut.appended_bytes, 0

    @property
    def wal_bytes_since_snapshot(self) -> int:
        """Log bytes written after the newest snapshot's cut: the worker snapshots once this passes
        ``snapshot_wal_bytes``, since it is what the next open has to replay."""
        return self._wal_base_bytes + self._wal.appended_bytes - self._appended_at_snapshot

    @property
    def stored_bytes(self) -> int:
        """Approximate bytes of the live memories (content, embedding, tags, metadata: workers/footprint.py), the
        unit of the ``max_bytes`` quota; kept on every put and drop, restored by a snapshot and the replay."""
        return self._stored_bytes

    def sync(self, *, filesystem_synced: bool = False, data_flushed: bool = False) -> None:
        """Make every change so far durable; raises OSError if it could not (then acknowledge nothing).
        ``filesystem_synced``: the log's filesystem was just synced as a whole; ``data_flushed``: the log's records
        were written out and the disk's cache flushed since (workers/durability.py)."""
        self._wal.sync(filesystem_synced=filesystem_synced, data_flushed=data_flushed)

    @property
    def overwrites_only(self) -> bool:
        """Whether the changes waiting for ``sync`` only overwrote log space already durable (workers/wal.py)."""
        return self._wal.overwrites_only

    def write_out(self, *, wait: bool) -> None:
        """Write the log's unsynced records to the disk without metadata or a cache flush (workers/wal.py)."""
        self._wal.write_out(wait=wait)

    @property
    def log_needs_room(self) -> bool:
        """Whether ``prepare_log`` would extend the log now (workers/wal.py, ``WalWriter.needs_room``)."""
        return self._wal.needs_room

    def prepare_log(self) -> bool:
        """Extend the log's zeros ahead of need, in the worker's idle time (workers/wal.py, ``WalWriter.prepare``);
        raises OSError like ``sync``."""
        return self._wal.prepare()

    @property
    def log_device(self) -> int:
        """The filesystem the space's log is on."""
        return self._wal.device

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
        episodes = self._traits.episodes
        touched = sum(
            put.record.id in episodes or bool(put.record.profile and put.record.profile.episode) for put in puts
        )
        if touched:
            self.consolidation.note_change(touched)  # only episodes are consolidated: plain memories leave it undue
        for put in puts:
            put.record.serial = self._columns.next_serial
            self._wal.append(encode_record(put.record))
            replaced = self._put(put.record, put.unit, put.norm)
            links = self._form_links(put, now)
            record = put.record
            pressure = self.count / PRESSURE_CAPACITY_MEMORIES
            activation = min(1.0, max(0.0, record.confidence * (1.0 - 0.5 * pressure)))
            stored.append(
                StoredMemory(record.id, record.confidence, activation, record.observed_at, now, replaced, links)
            )
        return stored

    def delete(self, memory_id: str, now: float) -> None:
        """Delete a memory (MEMORY_NOT_FOUND if there is none); like ``remember``, durable after ``sync``."""
        self._row(memory_id)
        if memory_id in self._traits.episodes:
            self.consolidation.note_change()
        record = DeleteRecord(memory_id, now)
        self._wal.append(encode_record(record))
        self._apply(record)

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
            profile = profile_of(memory)
            if memory.id is None:
                prefix = "mem_" if memory.episode is None else "ep_"
                memory_id = new_memory_id(prefix)
                while memory_id in self._columns.row_of or memory_id in batch_ids:
                    memory_id = new_memory_id(prefix)
            else:
                memory_id = validate_memory_id(memory.id)
            batch_ids.add(memory_id)
            record = PutRecord(memory_id, memory.content, raw, source, memory.confidence, observed_at, now, profile)
            puts.append(_Put(record, unit, norm, memory.link_threshold if memory.auto_link else None))
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
            case LinkRecord():
                self._traits.link(record)
            case TouchRecord(ids=ids, touched_at=touched_at):
                self._traits.reinforce(self._columns, ids, touched_at)

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
            max(record.serial, columns.next_serial),  # 0 (a record older than serials) gets the next one
        )
        columns.last_access[row] = decay.first_access(record.observed_at, record.stored_at)
        self._lexicon.add(row, set(tokenize(record.content)))
        self._traits.put(record)
        self._stored_bytes += stored_bytes_of(record.content, self.dim, record.profile)
        return old_row is not None

    def _drop(self, row: int) -> None:
        memory_id = self._columns.ids[row]
        self._stored_bytes -= stored_bytes_of(self._columns.content[row], self.dim, self._traits.profile(memory_id))
        self._traits.drop(memory_id)
        self._lexicon.remove(row, set(tokenize(self._columns.content[row])))
        self.index.note_dropped(row)
        self._columns.tombstone(row)
        if self._columns.wants_compaction():
            self._lexicon.renumber(self._columns.compact())

    # -- reads ----------------------------------------------------------------------------------------------

    def get(self, memory_id: str, now: float | None = None) -> MemoryRecord:
        """One memory with its embedding and edges (and, given ``now``, its current confidence)."""
        record = self._record(self._row(memory_id), include_embedding=True, now=now)
        record.links = self._traits.graph.links(memory_id)
        return record

    def list(self, offset: int, limit: int, include_embeddings: bool, filters: Filters | None = None) -> MemoryPage:
        """Live memories (that pass ``filters``) in the order of their newest write; ``total`` counts them all."""
        check.check_page(offset, limit)
        matching = np.flatnonzero(self.filter_mask(filters))
        rows = matching[offset : offset + limit]
        return MemoryPage([self._record(int(row), include_embeddings) for row in rows], len(matching))

    def recall(
        self,
        query: str | None,
        embedding: bytes | None,
        threshold: float,
        max_results: int,
        now: float,
        *,
        mode: str = "hybrid",
        max_depth: int = 3,
        time_budget_ms: float = 10.0,
        trace: bool = False,
        filters: Filters | None = None,
    ) -> RecallResult:
        """The memories that match a text query, an embedding, or both (the higher similarity counts), and in
        "spreading" and "hybrid" ``mode`` those their associations lead to, ranked as workers/activation.py says.

        Each hit shows the memory as it was recalled (decayed confidence, previous last access); then every
        returned memory is reinforced, with a logged ``TouchRecord``, so this leaves the space dirty.
        """
        check.check_recall(query, embedding, threshold, max_results)
        check_spreading(mode, max_depth, time_budget_ms)
        unit_query = None if embedding is None else check.check_embedding(embedding, self.dim)[0]
        text = query if query is not None and query.strip() else None
        columns = self._columns
        if columns.live_count == 0:
            return RecallResult([], 0)
        allowed = None if filters is None else self.filter_mask(filters)  # filters choose seeds and answers
        scores = np.zeros(columns.rows, dtype=np.float64)
        if text is not None:
            scores = np.maximum(scores, self._text_scores(text, max_results, allowed))
        if unit_query is not None:
            rows, similarities = self._similar(unit_query, max_results, allowed)
            scores[rows] = np.maximum(scores[rows], similarities)
        scores = np.clip(scores, 0.0, 1.0)
        eligible = columns.live[: columns.rows] if allowed is None else allowed
        candidates = np.flatnonzero(eligible & (scores >= threshold))
        if len(candidates) > max_results:  # sort only the top (with every tie of the last place)
            kth_best = np.partition(scores[candidates], -max_results)[-max_results]
            candidates = candidates[scores[candidates] >= kth_best]
        found = recollect(
            columns,
            self._traits,
            candidates,
            scores[candidates],
            max_results,
            now,
            mode,
            max_depth,
            time_budget_ms,
            allowed,
        )
        hits = found.hits(lambda row: self._record(row, include_embedding=False, now=now), trace)
        self._reinforce([hit.memory.id for hit in hits], now)
        return RecallResult(hits, columns.live_count, found.hops, found.elapsed_ms)

    def _text_scores(self, text: str, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
        """Per row: the better of lexical coverage and (for the ``k`` built-in embeddings most similar to the
        query's built-in embedding, among ``allowed`` rows) that cosine; an exact memory id scores 1."""
        columns = self._columns
        scores = self._lexicon.coverage(tokenize(text), columns.rows, columns.live_count)
        searchable = columns.builtin[: columns.rows] if allowed is None else columns.builtin[: columns.rows] & allowed
        rows, similarities = self._similar(embed_text(text, self.dim), k, searchable)
        scores[rows] = np.maximum(scores[rows], similarities)
        exact = columns.row_of.get(text.strip())
        if exact is not None:
            scores[exact] = 1.0
        return scores

    def _similar(
        self, vector: np.ndarray, k: int, allowed_mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` live rows (among ``allowed_mask`` rows, when given) most similar to a unit vector, best first,
        with their cosines (and every row tied with the k-th): exact over the buffer of recent writes, pynndescent
        over sealed segments (workers/index.py). The one similarity-candidate path of recall."""
        return self.index.search(vector, k, allowed_mask)

    def _row(self, memory_id: str) -> int:
        row = self._columns.row_of.get(memory_id)
        if row is None:
            raise EngramError(
                ErrorCode.MEMORY_NOT_FOUND,
                f"Memory '{memory_id}' not found in memory space '{self.space_id}'.",
                hint=f"List the memories of '{self.space_id}' to see their ids.",
            )
        return row

    def _record(self, row: int, include_embedding: bool, now: float | None = None) -> MemoryRecord:
        """A row as a record with its traits (and, given ``now``, its current confidence)."""
        c = self._columns
        record = MemoryRecord(
            id=c.ids[row],
            content=c.content[row],
            confidence=float(c.confidence[row]),
            observed_at=float(c.observed_at[row]),
            stored_at=float(c.stored_at[row]),
            last_access=float(c.last_access[row]),
            embedding_source="builtin" if c.builtin[row] else "client",
            embedding=c.embedding(row) if include_embedding else None,
        )
        return self._traits.annotate(record, now)

    # -- associations and reinforcement -----------------------------------------------------------------------

    def associate(self, source: str, target: str, weight: float, now: float) -> Associated:
        """An explicit edge between two memories of this space (workers/graph.py); durable after ``sync``."""
        if not (math.isfinite(weight) and 0.0 < weight <= 1.0):
            raise check.invalid(f"Association weight must be above 0 and at most 1, got {weight}.", "Use e.g. 0.8.")
        self._row(source)
        self._row(target)
        if source == target:
            raise check.invalid(f"A memory cannot be associated with itself ('{source}').", "Use two memory ids.")
        self._log(LinkRecord(source, target, weight, EXPLICIT, now))
        return Associated(source, target, weight)

    def _form_links(self, put: _Put, now: float) -> list[Link]:
        """Edges a just-stored memory forms (similarity with ``auto_link``; context and time for episodes)."""
        memory_id = put.record.id
        links: list[Link] = []
        if put.link_threshold is not None:
            c = self._columns
            others = c.live[: c.rows].copy()
            others[c.row_of[memory_id]] = False
            rows, similarities = self._similar(put.unit, AUTO_LINK_MAX_LINKS, others)
            links = strongest_similar(c.ids, rows, similarities, put.link_threshold)
        links += self._traits.episode_links(memory_id)
        for link in links:
            self._log(LinkRecord(memory_id, link.target, link.weight, link.kind, now))
        return links

    def _reinforce(self, memory_ids: list[str], now: float) -> None:
        if memory_ids:
            self._log(TouchRecord(memory_ids, now))

    def _log(self, record: WalRecord) -> None:
        self._wal.append(encode_record(record))
        self._apply(record)

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

    def _episodes_stored_after(self, moment: float | None) -> int:
        """Live episodes stored after ``moment`` (all of them when None)."""
        columns = self._columns
        rows = [columns.row_of[memory_id] for memory_id in self._traits.episodes.ids()]
        if moment is None:
            return len(rows)
        return int(np.count_nonzero(columns.stored_at[rows] > moment)) if rows else 0

    def _episodes(self) -> list[EpisodeView]:
        """The episodes a pass considers: the latest ``MAX_EPISODES_PER_PASS`` observed. Taken from the episode
        index, not by scanning every row: the pass runs in the worker's loop, and a scan of a space of 30k plain
        memories held every other space of the worker for a few hundred ms, every ``consolidation_interval_s``."""
        columns = self._columns
        views = []
        for memory_id in self._traits.episodes.latest(MAX_EPISODES_PER_PASS):
            row = columns.row_of[memory_id]
            record = self._record(row, include_embedding=False)
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
