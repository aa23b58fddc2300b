"""The space archive: what export packs is exactly what import restores, and a damaged archive restores nothing."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engram.archive import MANIFEST, read_manifest
from engram.errors import EngramError, ErrorCode
from workers.archive import pack, unpack


def _space_dir(root: Path) -> Path:
    space = root / "alpha"
    (space / "wal").mkdir(parents=True)
    (space / "hot" / "snapshot-1").mkdir(parents=True)
    (space / "space.json").write_bytes(msgspec.json.encode({"id": "alpha", "dim": 4, "created_at": 1.0}))
    (space / "wal" / "000000000002.log").write_bytes(b"tail" * 100)
    (space / "wal" / "dropped-123.bin").write_bytes(b"forensics")
    (space / "hot" / "snapshot-1" / "units.npy").write_bytes(bytes(range(256)) * 40)
    (space / "hot" / ".segment.tmp").write_bytes(b"temporary")
    return space


def _files(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def test_unpack_restores_every_file_but_forensics_and_temporaries(tmp_path: Path) -> None:
    source = _space_dir(tmp_path)
    archive = pack(source, "alpha", 4, 7, 100.0)
    restored = unpack(archive, tmp_path / "beta", "beta")

    assert restored.memories == 7 and restored.space == "alpha"
    original = _files(source)
    copied = _files(tmp_path / "beta")
    assert set(copied) == {"space.json", "wal/000000000002.log", "hot/snapshot-1/units.npy"}
    for name in ("wal/000000000002.log", "hot/snapshot-1/units.npy"):
        assert copied[name] == original[name]
    assert msgspec.json.decode(copied["space.json"]) == {"id": "beta", "dim": 4, "created_at": 1.0}


def test_manifest_is_the_first_member_and_lists_checksums(tmp_path: Path) -> None:
    archive = pack(_space_dir(tmp_path), "alpha", 4, 7, 100.0)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert tar.getnames()[0] == MANIFEST
    manifest = read_manifest(archive)
    assert {f.path for f in manifest.files} == {"space.json", "wal/000000000002.log", "hot/snapshot-1/units.npy"}
    assert all(len(f.sha256) == 64 for f in manifest.files)


def test_a_flipped_byte_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    archive = bytearray(pack(_space_dir(tmp_path), "alpha", 4, 7, 100.0))
    position = archive.index(bytes(range(256)))  # inside units.npy's data
    archive[position + 10] ^= 0xFF
    with pytest.raises(EngramError) as caught:
        unpack(bytes(archive), tmp_path / "beta", "beta")
    assert caught.value.code is ErrorCode.INVALID_ARCHIVE
    assert "checksum" in caught.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alpha"]


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(cut=st.floats(min_value=0.0, max_value=0.999))
def test_a_truncated_archive_is_refused_and_leaves_nothing(tmp_path: Path, cut: float) -> None:
    root = tmp_path / f"case-{cut}"
    root.mkdir()
    archive = pack(_space_dir(root), "alpha", 4, 7, 100.0)
    # Cut inside the data, not in the tar's zero padding at the end (losing only padding is not damage).
    data_end = archive.rindex(bytes(range(256))) + 256
    with pytest.raises(EngramError) as caught:
        unpack(archive[: int(cut * data_end)], root / "beta", "beta")
    assert caught.value.code is ErrorCode.INVALID_ARCHIVE
    assert sorted(p.name for p in root.iterdir()) == ["alpha"]


def test_a_member_outside_the_space_is_refused(tmp_path: Path) -> None:
    archive = pack(_space_dir(tmp_path), "alpha", 4, 7, 100.0)
    manifest = read_manifest(archive)
    manifest.files.append(manifest.files[0].__class__("../escape", 3, "0" * 64))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in ((MANIFEST, msgspec.json.encode(manifest)), ("../escape", b"bad")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(EngramError) as caught:
        unpack(out.getvalue(), tmp_path / "beta", "beta")
    assert caught.value.code is ErrorCode.INVALID_ARCHIVE
    assert not (tmp_path / "escape").exists() and not (tmp_path / "beta").exists()


def test_import_over_an_existing_directory_is_a_conflict(tmp_path: Path) -> None:
    archive = pack(_space_dir(tmp_path), "alpha", 4, 7, 100.0)
    with pytest.raises(EngramError) as caught:
        unpack(archive, tmp_path / "alpha", "alpha")
    assert caught.value.code is ErrorCode.MEMORY_SPACE_EXISTS


def test_garbage_is_not_an_archive() -> None:
    with pytest.raises(EngramError) as caught:
        read_manifest(b"definitely not a tar file" * 30)
    assert caught.value.code is ErrorCode.INVALID_ARCHIVE
