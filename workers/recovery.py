"""Where opening a space starts from, and the report of what it found: snapshot, log tail, and every fallback.

The order of trust (docs/durability.md, Recovery): the newest snapshot that verifies, then the log after its cut;
a snapshot that does not verify is set aside and the previous generation tried, with the longer log after its cut
(the log is only deleted behind both kept snapshots, so that log is still there); with no usable snapshot, the
whole log that remains. Nothing here raises for damaged data: what cannot be proven good is left out and reported,
so one broken space never stops its worker. Only I/O errors of the disk itself propagate.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import msgspec

from workers import snapshot
from workers.snapshot import Restored, SnapshotRejected
from workers.wal import RecoveryReport

log = logging.getLogger(__name__)


class RejectedSnapshot(msgspec.Struct):
    generation: int
    reason: str
    kept_as: str | None = None  # the directory it was renamed to, for forensics


class SpaceRecovery(msgspec.Struct):
    """What opening a space found (``space.recovery``; logged by the worker, shown in its status).

    ``records``: log records replayed after the snapshot (``snapshot``, a generation, None: none was usable).
    ``dropped_*``/``segment``: the damaged tail of the log that was cut off (workers/wal.py). ``missing_segments``:
    leading log segments that were gone, so memories written only there are lost. ``directory_missing``: the space
    was expected to exist, but its directory was not there; it starts empty.
    """

    records: int = 0
    snapshot: int | None = None
    snapshot_rows: int = 0
    wal_cut: int = 0
    rejected: list[RejectedSnapshot] = []
    dropped_bytes: int = 0
    dropped_reason: str | None = None
    segment: str | None = None
    missing_segments: str | None = None
    directory_missing: bool = False
    elapsed_s: float = 0.0

    @property
    def clean(self) -> bool:
        """True when nothing was dropped, rejected or missing."""
        return not (
            self.rejected
            or self.dropped_bytes
            or self.dropped_reason
            or self.missing_segments
            or self.directory_missing
        )

    def problems(self) -> list[str]:
        """One sentence per thing that was left out, for logs and status."""
        found = []
        if self.directory_missing:
            found.append("the space's directory was missing; it starts empty")
        found += [f"snapshot {r.generation} rejected: {r.reason}" for r in self.rejected]
        if self.missing_segments:
            found.append(f"log segments {self.missing_segments} are missing; memories only they held are lost")
        if self.dropped_reason:
            found.append(f"{self.dropped_bytes} log byte(s) dropped from {self.segment}: {self.dropped_reason}")
        return found

    def summary(self) -> str:
        start = f"snapshot {self.snapshot} ({self.snapshot_rows} memories)" if self.snapshot else "no snapshot"
        text = f"{start} + {self.records} log record(s) in {self.elapsed_s:.3f} s"
        problems = self.problems()
        return text + ("; " + "; ".join(problems) if problems else "; clean")


class StartPoint(NamedTuple):
    """The state to replay the log onto: a loaded snapshot and its cut, or nothing and cut 0."""

    restored: Restored | None
    generation: int | None
    wal_cut: int
    rows: int
    rejected: list[RejectedSnapshot]


def start_point(hot_dir: Path, space_id: str, dim: int) -> StartPoint:
    """The newest snapshot that verifies and loads; every one tried before it is set aside and reported."""
    for name in snapshot.sweep(hot_dir):
        log.info("removed unfinished snapshot leftover %s in %s", name, hot_dir)
    rejected = []
    for generation in snapshot.generations(hot_dir):
        try:
            manifest, restored = snapshot.load(hot_dir, generation, space_id, dim)
        except SnapshotRejected as exc:
            kept_as = _set_aside(hot_dir, generation)
            log.error(
                "space %s: snapshot %d rejected (%s); falling back to an older snapshot or the log",
                space_id,
                generation,
                exc,
            )
            rejected.append(RejectedSnapshot(generation, str(exc), kept_as))
            continue
        return StartPoint(restored, generation, manifest.wal_cut, manifest.rows, rejected)
    return StartPoint(None, None, 0, 0, rejected)


def report(start: StartPoint, wal: RecoveryReport, directory_missing: bool, elapsed_s: float) -> SpaceRecovery:
    return SpaceRecovery(
        records=wal.records,
        snapshot=start.generation,
        snapshot_rows=start.rows,
        wal_cut=start.wal_cut,
        rejected=start.rejected,
        dropped_bytes=wal.dropped_bytes,
        dropped_reason=wal.dropped_reason,
        segment=wal.segment,
        missing_segments=wal.missing,
        directory_missing=directory_missing,
        elapsed_s=elapsed_s,
    )


def _set_aside(hot_dir: Path, generation: int) -> str | None:
    try:
        return snapshot.set_aside(hot_dir, generation)
    except OSError as exc:  # then it is tried (and rejected) again next time: harmless
        log.warning("cannot set rejected snapshot %d in %s aside: %s", generation, hot_dir, exc)
        return None
