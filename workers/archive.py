"""A memory space as one portable file: the archive ``export`` writes and ``import`` restores.

An archive is an uncompressed tar (embeddings do not compress; tar lets any tool list it) whose first member is
``manifest.json``: the format version, the space's id, dimension and memory count at export, and the size and
SHA-256 of every other member. Members are the space directory's own files (``space.json``, the snapshot under
``hot/``, the log tail under ``wal/``, index segments), so an imported space opens like any other: snapshot, then
log tail.

Import trusts nothing: every member must be a regular file at a relative path inside the space, listed in the
manifest with a matching size and checksum, and every listed file must be present. Only then is it unpacked, into
a temporary directory renamed into place, so a failed import leaves no trace.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path, PurePosixPath

import msgspec

from engram import space_naming
from engram.archive import MANIFEST, ArchivedFile, Manifest, invalid_archive, open_tar, read_manifest
from engram.atomic import fsync_dir
from engram.errors import EngramError, ErrorCode

_EXCLUDED_PREFIXES = ("wal/dropped-", ".")  # forensic copies of damaged log tails, temporary files


def pack(space_dir: Path, space: str, dim: int, memories: int, exported_at: float) -> bytes:
    """The archive of everything under ``space_dir`` (the caller has just snapshotted and synced the space)."""
    members = [(rel, space_dir / rel) for rel in _member_paths(space_dir)]
    files = [ArchivedFile(rel, path.stat().st_size, _sha256_file(path)) for rel, path in members]
    manifest = msgspec.json.encode(Manifest(space, dim, memories, exported_at, files))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, MANIFEST, manifest, exported_at)
        for rel, path in members:
            tar.add(path, arcname=rel, recursive=False)
    return out.getvalue()


def unpack(archive: bytes, destination: Path, new_id: str) -> Manifest:
    """Verify ``archive`` completely, then create ``destination`` (which must not exist) holding its files, with
    ``space.json`` renamed to ``new_id``. Nothing is left behind when it fails."""
    if destination.exists():
        raise EngramError(
            ErrorCode.MEMORY_SPACE_EXISTS,
            f"Cannot import into '{new_id}': its directory already exists.",
            hint="Import under another id with --as, or delete that space first.",
        )
    staging = destination.with_name(f".import-{new_id}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        manifest = _extract_verified(archive, staging)
        _rename_settings(staging, new_id)
        for directory in sorted({p.parent for p in staging.rglob("*")}, key=lambda p: len(p.parts), reverse=True):
            fsync_dir(directory)
        os.rename(staging, destination)
        fsync_dir(destination.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _extract_verified(archive: bytes, staging: Path) -> Manifest:
    manifest = read_manifest(archive)
    expected = {f.path: f for f in manifest.files}
    if len(expected) != len(manifest.files):
        raise invalid_archive("its manifest lists a file twice")
    seen: set[str] = set()
    try:
        _extract_members(archive, expected, seen, staging)
    except (tarfile.TarError, EOFError) as exc:
        raise invalid_archive(f"it is cut short or damaged ({exc})") from exc
    missing = sorted(set(expected) - seen)
    if missing:
        raise invalid_archive(f"it lacks {len(missing)} file(s) its manifest lists, e.g. '{missing[0]}' (truncated?)")
    if "space.json" not in seen:
        raise invalid_archive("it holds no space.json")
    return manifest


def _extract_members(archive: bytes, expected: dict[str, ArchivedFile], seen: set[str], staging: Path) -> None:
    with open_tar(archive) as tar:
        tar.next()  # the manifest, read by the caller
        while (member := tar.next()) is not None:
            listed = expected.get(member.name)
            if listed is None or member.name in seen:
                raise invalid_archive(f"member '{member.name}' is not in its manifest (or appears twice)")
            if not member.isfile() or not _is_safe_relative(member.name):
                raise invalid_archive(f"member '{member.name}' is not a plain file inside the space")
            data = tar.extractfile(member).read()
            if len(data) != listed.size or hashlib.sha256(data).hexdigest() != listed.sha256:
                raise invalid_archive(f"member '{member.name}' does not match its checksum (the file is damaged)")
            target = staging / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_synced(target, data)
            seen.add(member.name)


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _rename_settings(staging: Path, new_id: str) -> None:
    """Give the imported space its new id in every file that names it (engram/space_naming.py: a snapshot that
    names another space is refused on open). Every other field is kept as exported."""
    try:
        space_naming.rename_space(staging, new_id)
    except space_naming.UnreadableNamingFile as exc:
        raise invalid_archive(f"its {exc.path.relative_to(staging)} is not an object") from exc


def _member_paths(space_dir: Path) -> list[str]:
    paths = []
    for path in sorted(space_dir.rglob("*")):
        rel = path.relative_to(space_dir).as_posix()
        if path.is_file() and not path.is_symlink() and not any(_excluded(part, rel) for part in rel.split("/")):
            paths.append(rel)
    return paths


def _excluded(part: str, rel: str) -> bool:
    return part.startswith(".") or rel.startswith(_EXCLUDED_PREFIXES[0])


def _is_safe_relative(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and name == path.as_posix()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    tar.addfile(info, io.BytesIO(data))
