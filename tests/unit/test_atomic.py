"""engram/atomic.py: ``FlushingWriter`` writes every byte, in order, and makes the file durable a MiB at a time;
``write_atomic_stream`` replaces a file whole through it, and leaves the old one when the producer fails."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engram import atomic
from engram.atomic import FLUSH_EVERY_BYTES, FlushingWriter, write_atomic_stream

REAL_FDATASYNC = os.fdatasync


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(0, 3 * FLUSH_EVERY_BYTES // 2), max_size=6))
def test_every_byte_lands_in_order_and_each_mib_is_synced_once(tmp_path_factory, monkeypatch, sizes):
    """(The patched fdatasync records the file's size at each sync, then syncs.)"""
    path = tmp_path_factory.mktemp("flush") / "file"
    synced: list[int] = []
    monkeypatch.setattr(atomic.os, "fdatasync", lambda fd: (synced.append(os.fstat(fd).st_size), REAL_FDATASYNC(fd)))
    pieces = [bytes([n % 251]) * size for n, size in enumerate(sizes)]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        writer = FlushingWriter(fd)
        assert [writer.write(piece) for piece in pieces] == sizes
    finally:
        os.close(fd)
    assert path.read_bytes() == b"".join(pieces)
    assert synced == [FLUSH_EVERY_BYTES * n for n in range(1, sum(sizes) // FLUSH_EVERY_BYTES + 1)]


def test_numpy_pickle_and_gzip_write_through_it(tmp_path):
    array = np.arange(600_000, dtype=np.float32).reshape(-1, 6)  # 2.4 MB: more than one flush
    write_atomic_stream(tmp_path / "a.npy", lambda out: np.save(out, array, allow_pickle=False))
    assert np.array_equal(np.load(tmp_path / "a.npy"), array)
    write_atomic_stream(tmp_path / "p.pkl", lambda out: pickle.dump({"rows": array}, out))
    assert np.array_equal(pickle.loads((tmp_path / "p.pkl").read_bytes())["rows"], array)

    def packed(out) -> None:  # noqa: ANN001
        with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as zipped:
            zipped.write(array.tobytes())

    write_atomic_stream(tmp_path / "z.gz", packed)
    assert gzip.decompress((tmp_path / "z.gz").read_bytes()) == array.tobytes()


def test_a_failed_producer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "settings.json"
    target.write_bytes(b"old")

    def failing(out) -> None:  # noqa: ANN001
        out.write(b"x" * (FLUSH_EVERY_BYTES + 10))
        raise RuntimeError("producer failed")

    with pytest.raises(RuntimeError):
        write_atomic_stream(target, failing)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]


def test_replace_derived_swaps_the_file_whole_without_any_fsync(tmp_path, monkeypatch):
    """A derived file is replaced atomically (no temporary left behind) and never waits for the disk."""
    calls: list[str] = []
    for name in ("fsync", "fdatasync"):
        monkeypatch.setattr(atomic.os, name, lambda fd, name=name: calls.append(name))
    target = tmp_path / "derived.json"
    target.write_bytes(b"old")
    atomic.replace_derived(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert calls == []
    assert [path.name for path in tmp_path.iterdir()] == ["derived.json"]


def test_replace_derived_leaves_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "derived.json"
    target.write_bytes(b"old")

    def failing_replace(_source, _destination) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OSError):
        atomic.replace_derived(target, b"new")
    assert target.read_bytes() == b"old"
    assert [path.name for path in tmp_path.iterdir()] == ["derived.json"]
