"""The space archive's format, shared by the workers (which write and restore archives) and by the API and clients
(which read an archive's manifest to learn the space's dimension before they send it for import).

An archive is an uncompressed tar (embeddings do not compress; tar lets any tool list it) whose first member is
``manifest.json``: the format version, the space's id, dimension and memory count at export, and the size and
SHA-256 of every other member. Writing and restoring one is workers/archive.py.
"""

from __future__ import annotations

import io
import tarfile

import msgspec

from engram.errors import EngramError, ErrorCode
from engram.protocol import SpacePolicy

ARCHIVE_FORMAT = 1
MANIFEST = "manifest.json"
SPACE_SETTINGS = "space.json"
ARCHIVE_CONTENT_TYPE = "application/x-tar"
MAX_ARCHIVE_BYTES = 2 * 1024**3
"""Archives travel as one message (REST body or native frame); past this, export per space is the wrong tool."""
TOO_LARGE_HINT = (
    "Copy the space offline instead: stop the server, then 'engram space copy SPACE NEW' (docs/storage.md). "
    "Never copy its directory by hand: the copy would refuse the space's snapshot and lose what it holds."
)


class ArchivedFile(msgspec.Struct):
    path: str  # relative to the space directory, POSIX separators
    size: int
    sha256: str


class Manifest(msgspec.Struct):
    space: str
    dim: int
    memories: int
    exported_at: float
    files: list[ArchivedFile]
    format: int = ARCHIVE_FORMAT


def read_manifest(archive: bytes) -> Manifest:
    """The manifest of ``archive``, or an INVALID_ARCHIVE error saying why it is not an archive."""
    try:
        with open_tar(archive) as tar:
            member = tar.next()
            if member is None or member.name != MANIFEST or not member.isfile():
                raise invalid_archive(f"its first member must be {MANIFEST}")
            return _decode_manifest(tar.extractfile(member).read())
    except (tarfile.TarError, EOFError) as exc:
        raise invalid_archive(f"it is cut short or damaged ({exc})") from exc


class ArchivedSpace(msgspec.Struct):
    """What an archive's ``space.json`` says of the space beyond its data: when it was created and its policy."""

    created_at: float
    policy: SpacePolicy = SpacePolicy()


def read_archived_space(archive: bytes) -> ArchivedSpace | None:
    """The exported space's creation time and policy, so an import keeps them (the registry is their authority, and
    it would otherwise give the new space the server's defaults and the import's time). None when the archive has
    no readable ``space.json``: the worker then refuses the archive anyway, saying why."""
    try:
        with open_tar(archive) as tar:
            for member in tar:
                if member.name == SPACE_SETTINGS and member.isfile():
                    raw = tar.extractfile(member)
                    return msgspec.json.decode(raw.read(), type=ArchivedSpace) if raw is not None else None
    except (EngramError, tarfile.TarError, msgspec.DecodeError, OSError):
        return None
    return None


def open_tar(archive: bytes) -> tarfile.TarFile:
    if len(archive) > MAX_ARCHIVE_BYTES:
        raise EngramError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"The archive is {len(archive)} bytes; at most {MAX_ARCHIVE_BYTES} are accepted.",
            hint=TOO_LARGE_HINT,
        )
    try:
        return tarfile.open(fileobj=io.BytesIO(archive), mode="r:")
    except tarfile.TarError as exc:
        raise invalid_archive(f"it is not a tar file ({exc})") from exc


def _decode_manifest(raw: bytes) -> Manifest:
    try:
        manifest = msgspec.json.decode(raw, type=Manifest)
    except msgspec.DecodeError as exc:
        raise invalid_archive(f"its manifest cannot be read ({exc})") from exc
    if manifest.format != ARCHIVE_FORMAT:
        raise invalid_archive(f"it has format {manifest.format}; this server reads {ARCHIVE_FORMAT}")
    return manifest


def invalid_archive(reason: str) -> EngramError:
    return EngramError(
        ErrorCode.INVALID_ARCHIVE,
        f"Not a valid Engram space archive: {reason}.",
        hint="Export the space again with `engram space export SPACE FILE` and copy the file unchanged.",
    )
