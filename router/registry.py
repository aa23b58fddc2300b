"""The registry of memory spaces, persisted as ``<data_root>/registry.json``.

The router is single-threaded, so every create goes through ``create`` one at a time: concurrent creates of one id
coalesce into one space by construction. The file is rewritten atomically on every change. On load, a space
directory that holds a ``space.json`` but is missing from the registry (the registry was lost, or an older version
wrote the data) is adopted, so every space recovered from disk is listed at once.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import msgspec

from engram.atomic import write_atomic
from engram.ids import is_valid_space_id

log = logging.getLogger(__name__)

REGISTRY_FILE = "registry.json"
SPACE_SETTINGS_FILE = "space.json"


class SpaceEntry(msgspec.Struct):
    id: str
    dim: int
    created_at: float
    state: str = "active"


class RegistryDocument(msgspec.Struct):
    format: int = 1
    spaces: list[SpaceEntry] = []


class _SpaceSettings(msgspec.Struct):
    """The fields of a space's own space.json that the registry needs to adopt it."""

    dim: int
    created_at: float = 0.0


class Registry:
    def __init__(self, data_root: Path) -> None:
        self._root = Path(data_root)
        self._path = self._root / REGISTRY_FILE
        self._spaces: dict[str, SpaceEntry] = {}

    def load(self) -> list[str]:
        """Read the registry file and adopt unregistered space directories; return the adopted ids."""
        if self._path.exists():
            document = msgspec.json.decode(self._path.read_bytes(), type=RegistryDocument)
            self._spaces = {entry.id: entry for entry in document.spaces}
        adopted = [entry.id for entry in self._scan_unregistered()]
        if adopted:
            log.warning("adopted %d space(s) found on disk but missing from the registry: %s", len(adopted), adopted)
            self._save()
        return adopted

    def _scan_unregistered(self) -> list[SpaceEntry]:
        found = []
        for child in sorted(self._root.iterdir()):
            if not (child.is_dir() and is_valid_space_id(child.name)) or child.name in self._spaces:
                continue
            settings_path = child / SPACE_SETTINGS_FILE
            if not settings_path.exists():
                continue
            try:
                settings = msgspec.json.decode(settings_path.read_bytes(), type=_SpaceSettings)
            except (OSError, msgspec.DecodeError) as exc:
                log.error("cannot adopt space directory %s: unreadable %s (%s)", child, SPACE_SETTINGS_FILE, exc)
                continue
            entry = SpaceEntry(child.name, settings.dim, settings.created_at or child.stat().st_mtime)
            self._spaces[entry.id] = entry
            found.append(entry)
        return found

    def get(self, space: str) -> SpaceEntry | None:
        return self._spaces.get(space)

    def create(self, space: str, dim: int) -> tuple[SpaceEntry, bool]:
        """Create-or-get: the entry, and whether this call created it. Persisted before it returns."""
        existing = self._spaces.get(space)
        if existing is not None:
            return existing, False
        entry = SpaceEntry(space, dim, time.time())
        self._spaces[space] = entry
        try:
            self._save()
        except OSError:
            del self._spaces[space]
            raise
        return entry, True

    def entries(self) -> list[SpaceEntry]:
        return sorted(self._spaces.values(), key=lambda entry: entry.id)

    def __len__(self) -> int:
        return len(self._spaces)

    def _save(self) -> None:
        document = RegistryDocument(spaces=self.entries())
        write_atomic(self._path, msgspec.json.encode(document))
