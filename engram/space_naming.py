"""The files of a space directory that name the space, and how to give a directory's files a new id.

A space's id is its directory's name, and two kinds of file inside record it as well: ``space.json`` (field ``id``,
workers/layout.py) and each snapshot's ``hot/snapshot-<generation>/manifest.json`` (field ``space``,
workers/snapshot.py). Opening a space refuses a snapshot whose manifest names another space (it might be another
tenant's data put in the wrong place), and falls back to the log after it, so a directory that takes a new name
without its files being renamed loses every memory the snapshot covers.

Every path that gives a space's files a new name therefore goes through ``rename_space``: an import under a new id
(workers/archive.py), the wrap of a legacy data root into the default space (router/legacy.py) and the offline copy
of a space (router/space_copy.py). It lives here because those are the router's and the workers' code alike.

Each file is replaced atomically (engram/atomic.py), so a crash leaves it with the old id or the new one, never a
torn file, and renaming again is harmless. Every other field is kept as it was.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from engram.atomic import write_atomic

SETTINGS_FILE = "space.json"
SNAPSHOT_MANIFESTS = "hot/snapshot-*/manifest.json"
"""Relative to a space directory: the manifest of each snapshot (workers/snapshot.py ``dir_name``, ``MANIFEST_FILE``).
Snapshots set aside as rejected (``rejected-snapshot-*``) are never loaded again and keep the id they had."""
_ID_FIELD = {SETTINGS_FILE: "id"}
_SNAPSHOT_ID_FIELD = "space"


class UnreadableNamingFile(ValueError):
    """A file that should name the space is not a JSON object; ``path`` says which."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} is not a JSON object ({reason})")
        self.path = path
        self.reason = reason


def naming_files(directory: Path) -> list[Path]:
    """The files of the space directory ``directory`` that record its id: ``space.json`` (if there is one) first,
    then every snapshot manifest, oldest generation first."""
    settings = directory / SETTINGS_FILE
    return ([settings] if settings.is_file() else []) + sorted(directory.glob(SNAPSHOT_MANIFESTS))


def rename_file(path: Path, new_id: str) -> bool:
    """Make one naming file (``space.json`` or a snapshot manifest) name ``new_id``; False when it already did (the
    file is then left untouched). Raises ``UnreadableNamingFile`` when it is not a JSON object."""
    try:
        document = msgspec.json.decode(path.read_bytes())
    except msgspec.DecodeError as exc:
        raise UnreadableNamingFile(path, str(exc)) from exc
    if not isinstance(document, dict):
        raise UnreadableNamingFile(path, f"it holds a {type(document).__name__}")
    field = _ID_FIELD.get(path.name, _SNAPSHOT_ID_FIELD)
    if document.get(field) == new_id:
        return False
    document[field] = new_id
    write_atomic(path, msgspec.json.encode(document))
    return True


def rename_space(directory: Path, new_id: str) -> list[Path]:
    """Make every naming file of ``directory`` name ``new_id``; return those that changed. Stops at the first
    ``UnreadableNamingFile`` (the files before it are renamed already: running it again after a fix is safe)."""
    return [path for path in naming_files(directory) if rename_file(path, new_id)]
