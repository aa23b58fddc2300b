"""The similarity index of one space: an exact buffer of recent writes plus sealed pynndescent segments.

A query scans the buffer exactly (one matrix-vector product over a contiguous block of rows), asks every segment
for a few more neighbours than wanted, drops what is no longer live (deleted, or replaced by a newer write of the
same id, which has a new serial) or not allowed, rescoring the rest exactly from the columns, and merges. So
deletes and replacements are honoured without touching a segment, and a segment being built changes nothing for
readers: its rows stay in the buffer until the finished segment is swapped in (workers/compaction.py).

Which memories are in the buffer: every live row whose serial is above the manifest's watermark (the newest rows,
a contiguous tail since rows are kept in serial order), plus "orphans" at or below it that no loaded segment holds
(a segment that was dissolved, or whose files were lost). Compaction seals both into the next segment.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np

from workers.columns import Columns
from workers.segments import (
    Manifest,
    Segment,
    load_manifest,
    load_segment,
    remove_segment_files,
    save_manifest,
    sweep,
)

log = logging.getLogger(__name__)

OVERFETCH_MARGIN = 20
"""Each segment is asked for ``k + 20`` neighbours (more when it holds dead rows): the graph search misses some of
the true top k, and more candidates, rescored exactly, raise recall@10 at 100k text memories from 0.95 (k + 10) to
0.97 for about 15% more query time (docs/index.md)."""
REFETCH_FACTOR = 4
EXACT_FALLBACK_SHARE = 0.25
"""When a query would need more than a quarter of a segment's vectors (a filter that admits few of them, or a
mostly deleted segment), scanning that segment's eligible rows exactly is cheaper than the graph search."""

_EMPTY = (np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float32))


class SpaceIndex:
    """Buffer and segments of one space over its ``Columns``. Not thread-safe: the worker loop owns it."""

    def __init__(self, hot_dir: Path, columns: Columns) -> None:
        self.hot_dir = hot_dir
        self.columns = columns
        self.manifest = Manifest()
        self.segments: list[Segment] = []
        self.orphans = np.empty(0, dtype=np.int64)  # sorted serials at or below the watermark in no segment

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the segments ``index.json`` lists (after the log was replayed into the columns).

        Nothing is rebuilt: a segment is unpickled as built. One whose files are missing or damaged is logged and
        left out; its memories become orphans, searched exactly until compaction seals them again.
        """
        self.manifest = load_manifest(self.hot_dir)
        stray = sweep(self.hot_dir, {info.name for info in self.manifest.segments})
        if stray:
            log.info("removed %d unfinished segment(s) in %s: %s", len(stray), self.hot_dir, ", ".join(stray))
        started = time.monotonic()
        kept = []
        for info in self.manifest.segments:
            try:
                segment = load_segment(self.hot_dir, info)
            except Exception as exc:  # noqa: BLE001 - any damage means: search these memories exactly instead
                log.error("index segment %s in %s cannot be loaded (%s); its memories are searched exactly "
                          "until the next compaction seals them again", info.name, self.hot_dir, exc)  # fmt: skip
                remove_segment_files(self.hot_dir, info.name)
                continue
            segment.live = self._live_count(segment.serials)
            self.segments.append(segment)
            kept.append(info)
        if self.segments:
            log.info(
                "loaded %d index segment(s) from %s in %.3f s", len(kept), self.hot_dir, time.monotonic() - started
            )
        if len(kept) != len(self.manifest.segments):
            self.manifest.segments = kept
            save_manifest(self.hot_dir, self.manifest)
        # A serial handed out before a crash may be in a segment although its log record was lost: never reuse it.
        last = max([self.manifest.watermark, *(info.last_serial for info in kept)])
        self.columns.next_serial = max(self.columns.next_serial, last + 1)
        self.orphans = self._uncovered_serials()

    def _uncovered_serials(self) -> np.ndarray:
        """Live serials at or below the watermark that no loaded segment holds."""
        columns = self.columns
        serials = columns.serials[: columns.rows]
        start = int(np.searchsorted(serials, self.manifest.watermark, side="right"))
        candidates = serials[:start][columns.live[:start]]
        for segment in self.segments:
            candidates = candidates[~segment.contains(candidates)]
        return candidates.copy()

    # -- what the rest of the space tells the index ------------------------------------------------------------

    def note_dropped(self, row: int) -> None:
        """A row is being deleted or replaced: keep its segment's live count right (it drives merges and how much
        a query over-fetches)."""
        serial = self.columns.serials[row]
        if serial > self.manifest.watermark:
            return
        for segment in self.segments:
            if segment.contains(np.array([serial]))[0]:
                segment.live -= 1
                return

    # -- what it tells -----------------------------------------------------------------------------------------

    @property
    def segment_count(self) -> int:
        return len(self.segments)

    def buffer_start(self) -> int:
        """First row of the buffer's tail: every row from here on has a serial above the watermark."""
        columns = self.columns
        return int(np.searchsorted(columns.serials[: columns.rows], self.manifest.watermark, side="right"))

    def orphan_rows(self) -> np.ndarray:
        """Rows of the live orphans (dead ones are skipped: their rows may be gone after a columns compaction)."""
        return self.rows_of(self.orphans)

    def buffer_count(self) -> int:
        """Live memories searched exactly: the tail after the watermark and the orphans."""
        columns = self.columns
        return int(np.count_nonzero(columns.live[self.buffer_start() : columns.rows])) + len(self.orphan_rows())

    # -- search ------------------------------------------------------------------------------------------------

    def search(
        self, unit_query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` live rows most similar to a unit query (restricted to ``allowed`` rows when given), best
        first, with their cosines; every row tied with the k-th best is included too. Scores are exact (computed
        from the columns), only the candidates of a segment are approximate."""
        columns = self.columns
        n = columns.rows
        if k <= 0 or columns.live_count == 0:
            return _EMPTY
        eligible = columns.live[:n] if allowed is None else columns.live[:n] & allowed[:n]
        start = self.buffer_start()
        # The buffer's tail is a contiguous block of rows: score it in place, without gathering it first.
        tail = np.flatnonzero(eligible[start:n])
        best = _top(tail + start, (columns.units[start:n] @ unit_query)[tail], k)
        orphans = self.orphan_rows()
        others = [orphans[eligible[orphans]]]
        if self.segments:
            share = 1.0 if allowed is None else np.count_nonzero(eligible) / max(columns.live_count, 1)
            others.extend(self._search_segment(s, unit_query, k, eligible, share) for s in self.segments)
        gathered = np.unique(np.concatenate(others))
        rows, scores = _top(
            np.concatenate([best[0], gathered]), np.concatenate([best[1], columns.units[gathered] @ unit_query]), k
        )
        order = np.argsort(-scores, kind="stable")
        return rows[order], scores[order]

    def _search_segment(
        self, segment: Segment, unit_query: np.ndarray, k: int, eligible: np.ndarray, share: float
    ) -> np.ndarray:
        """Eligible rows among (about) the segment's ``k`` nearest: asks for more when rows are dead or
        filtered out, and scans the segment exactly when the graph search would have to visit too much of it."""
        expected = max(segment.live, 0) * share
        if expected <= 0:
            return np.empty(0, dtype=np.intp)
        fetch = math.ceil((k + OVERFETCH_MARGIN) * segment.size / expected)
        while fetch <= EXACT_FALLBACK_SHARE * segment.size or fetch <= k + OVERFETCH_MARGIN:
            rows = self.rows_of(segment.query(unit_query, fetch))
            rows = rows[eligible[rows]]
            if len(rows) >= k or fetch >= segment.size:
                return rows
            fetch *= REFETCH_FACTOR
        rows = self.rows_of(segment.serials)
        return rows[eligible[rows]]

    def rows_of(self, serials: np.ndarray) -> np.ndarray:
        """Rows of the given serials that still exist (dropped memories may have left the columns)."""
        columns = self.columns
        n = columns.rows
        if n == 0 or len(serials) == 0:
            return np.empty(0, dtype=np.intp)
        all_serials = columns.serials[:n]
        rows = np.minimum(np.searchsorted(all_serials, serials), n - 1)
        rows = rows[all_serials[rows] == serials]
        return rows[columns.live[rows]]

    def _live_count(self, serials: np.ndarray) -> int:
        return len(self.rows_of(serials))

    # -- changes made by compaction ----------------------------------------------------------------------------

    def install(self, segment: Segment, replaces: list[str], watermark: int) -> list[str]:
        """Swap a finished segment in for the segments it was merged from (none for a seal, whose rows up to
        ``watermark`` it now covers), and persist the manifest. Returns the names of the replaced segments, whose
        files the caller may delete now that the manifest no longer lists them."""
        segment.live = self._live_count(segment.serials)
        replaced = set(replaces)
        self.segments = [s for s in self.segments if s.name not in replaced] + [segment]
        self.manifest.segments = [s.info for s in self.segments]
        self.manifest.watermark = max(self.manifest.watermark, watermark)
        save_manifest(self.hot_dir, self.manifest)
        self.orphans = self._live_orphans(self.orphans[~segment.contains(self.orphans)])
        return [name for name in replaces if name != segment.name]

    def dissolve(self, segment: Segment) -> None:
        """Drop a segment whose memories are mostly deleted: its live ones go back to the exact buffer (as
        orphans), to be sealed with the next batch, which is cheaper than rebuilding a small index."""
        survivors = self.columns.serials[self.rows_of(segment.serials)]
        self.segments = [s for s in self.segments if s is not segment]
        self.manifest.segments = [s.info for s in self.segments]
        save_manifest(self.hot_dir, self.manifest)
        self.orphans = np.union1d(self.orphans, survivors).astype(np.int64)

    def _live_orphans(self, orphans: np.ndarray) -> np.ndarray:
        return self.columns.serials[self.rows_of(orphans)].copy()


def _top(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows scoring at least the k-th best score (so ties of the k-th place stay), unordered."""
    if len(rows) <= k:
        return rows, scores
    keep = scores >= np.partition(scores, -k)[-k]
    return rows[keep], scores[keep]
