"""Storage tiers of a space's index segments: ``hot/`` (loaded from), ``warm/`` (moved aside), ``cold/`` (gzipped).

Why: a worker holds far more spaces on disk than in memory, and the index segments of a space nobody asked for in
days are its largest files after the snapshot (its vectors again, plus the search graph). ``warm/`` may live on a
cheaper disk (it is copied to, never renamed into, so it can be another file system); ``cold/`` also compresses them.
Snapshots, the log and ``hot/index.json`` always stay where they are: a space opens from those alone, and a segment
is only a faster way to search memories the snapshot holds anyway.

Only for an *offloaded* space (not open in its worker): ``demote(space_dir, tier)`` when the residency policy
(workers/residency.py) says so, and ``promote(space_dir)``, which ``Space.open`` calls before loading the index, so
a demoted space opens transparently. Both touch only that space's directory, so a worker may run them off its
loop (in a thread) as long as it does not open the same space meanwhile.

Crash safety: every file is written to a temporary name in its destination, fsynced and renamed, the directory
fsynced, and only then is the source removed. A crash leaves a complete copy in one tier or both; ``promote``
prefers the warmest copy and removes the others. A cold file carries gzip's CRC-32 and length, checked when it is
decompressed; one that fails is removed and its segment is missing at load, which the index handles by searching
those memories exactly until compaction seals them again (workers/index.py): nothing is lost.
"""

from __future__ import annotations

import gzip
import logging
import shutil
import zlib
from pathlib import Path
from typing import Literal, NamedTuple

from engram.atomic import fsync_dir, write_atomic_stream
from workers.segments import load_manifest, segment_files

log = logging.getLogger(__name__)

Tier = Literal["hot", "warm", "cold"]
TIERS: tuple[Tier, ...] = ("hot", "warm", "cold")
COLD_SUFFIX = ".gz"
COLD_GZIP_LEVEL = 1
"""Segment files are float32 vectors and int32 graph indexes: gzip gains about 13% on them at any level, and level 1
compresses about twice as fast as the default 6 (measured on 12 MB of unit vectors and neighbour lists)."""
COPY_CHUNK_BYTES = 1 << 20


class TierMove(NamedTuple):
    """What ``demote`` or ``promote`` moved: file names, and bytes read and written."""

    files: list[str]
    bytes_in: int
    bytes_out: int


def tier_of(space_dir: Path) -> Tier:
    """The coldest tier holding any of the space's segment files (a restarted worker's view of its spaces)."""
    if _stored(space_dir / "cold"):
        return "cold"
    if _stored(space_dir / "warm"):
        return "warm"
    return "hot"


def demote(space_dir: Path, tier: Tier) -> TierMove:
    """Move the segment files ``hot/index.json`` lists from warmer tiers to ``tier`` ("warm" or "cold")."""
    if tier not in ("warm", "cold"):
        raise ValueError(f"demote to 'warm' or 'cold', not {tier!r}")
    destination = space_dir / tier
    destination.mkdir(exist_ok=True)
    _sweep(space_dir)
    sources = [space_dir / "hot"] if tier == "warm" else [space_dir / "hot", space_dir / "warm"]
    moved, bytes_in, bytes_out = [], 0, 0
    for name in _listed_files(space_dir):
        source = next((d / name for d in sources if (d / name).exists()), None)
        if source is None:
            continue  # already in this tier or colder, or lost (the index copes with that on load)
        if tier == "warm":
            written = _copy(source, destination / name)
        else:
            written = _compress(source, destination / f"{name}{COLD_SUFFIX}")
        fsync_dir(destination)
        size = source.stat().st_size
        source.unlink()
        fsync_dir(source.parent)
        moved.append(name)
        bytes_in, bytes_out = bytes_in + size, bytes_out + written
    return TierMove(moved, bytes_in, bytes_out)


def promote(space_dir: Path) -> TierMove:
    """Bring every segment file in ``warm/`` or ``cold/`` back to ``hot/`` (before the space's index loads).
    A file that is in ``hot/`` already wins (an interrupted demote left a copy); damaged cold files are dropped."""
    hot = space_dir / "hot"
    moved, bytes_in, bytes_out = [], 0, 0
    if not (_stored(space_dir / "warm") or _stored(space_dir / "cold")):
        return TierMove(moved, bytes_in, bytes_out)  # the common case: two directory listings
    _sweep(space_dir)
    for tier in ("warm", "cold"):
        directory = space_dir / tier
        for path in _stored(directory):
            name = path.name.removesuffix(COLD_SUFFIX) if tier == "cold" else path.name
            if not (hot / name).exists():
                try:
                    written = _decompress(path, hot / name) if tier == "cold" else _copy(path, hot / name)
                except (EOFError, zlib.error, gzip.BadGzipFile) as exc:  # other OSErrors: the disk, not the file
                    log.error("%s is damaged (%s); its index segment will be rebuilt", path, exc)
                else:
                    fsync_dir(hot)
                    moved.append(name)
                    bytes_in, bytes_out = bytes_in + path.stat().st_size, bytes_out + written
            path.unlink()
        if directory.is_dir():
            fsync_dir(directory)
    return TierMove(moved, bytes_in, bytes_out)


def _listed_files(space_dir: Path) -> list[str]:
    """Names of the files of the segments the index lists (its manifest stays in ``hot/``)."""
    hot = space_dir / "hot"
    return [path.name for info in load_manifest(hot).segments for path in segment_files(hot, info.name)]


def _stored(directory: Path) -> list[Path]:
    """The finished files of a tier directory (temporary files start with a dot)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))


def _sweep(space_dir: Path) -> None:
    """Remove temporary files an interrupted move left in any tier."""
    for tier in TIERS:
        directory = space_dir / tier
        if directory.is_dir():
            for path in directory.glob(".*.tier.tmp"):
                path.unlink(missing_ok=True)


def _tmp(target: Path) -> Path:
    return target.with_name(f".{target.name}.tier.tmp")


def _copy(source: Path, target: Path) -> int:
    return _write(target, lambda out: _pump(source.open("rb"), out))


def _compress(source: Path, target: Path) -> int:
    def write(out: object) -> None:
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=COLD_GZIP_LEVEL, mtime=0) as packed:  # type: ignore[arg-type]
            _pump(source.open("rb"), packed)

    return _write(target, write)


def _decompress(source: Path, target: Path) -> int:
    """Reads to the end, so gzip checks the CRC-32 and length of the whole file before it is renamed into place."""
    return _write(target, lambda out: _pump(gzip.open(source, "rb"), out))


def _pump(source, out) -> None:  # noqa: ANN001 - any readable and writable binary file objects
    with source:
        shutil.copyfileobj(source, out, COPY_CHUNK_BYTES)


def _write(target: Path, produce) -> int:  # noqa: ANN001 - a callable that writes to the open file
    """Write ``target`` through a temporary file (fsynced, renamed); the caller fsyncs the directory."""
    write_atomic_stream(target, produce, tmp=_tmp(target), sync_dir=False)
    return target.stat().st_size
