"""The test-only I/O fault hook (workers/faults.py) fails exactly the named space's log operation, and nothing when
it is off."""

from __future__ import annotations

import errno
import json

import pytest

from workers import faults
from workers.wal import WalWriter


@pytest.fixture
def faults_file(tmp_path, monkeypatch):
    path = tmp_path / "faults.json"
    monkeypatch.setattr(faults, "_path", str(path))
    monkeypatch.setattr(faults, "_read_at", float("-inf"))
    monkeypatch.setattr(faults, "_table", {})

    def write(table: dict[str, str]) -> None:
        path.write_text(json.dumps(table))
        faults._read_at = float("-inf")  # as if a second had passed since the last read

    return write


def test_enospc_fails_appends_of_the_named_space_only(tmp_path, faults_file):
    faults_file({"alpha": "enospc"})
    alpha = WalWriter.open(tmp_path / "data" / "alpha" / "wal")
    beta = WalWriter.open(tmp_path / "data" / "beta" / "wal")
    with pytest.raises(OSError) as raised:
        alpha.append(b"x")
    assert raised.value.errno == errno.ENOSPC
    beta.append(b"y")
    beta.sync()
    assert alpha.appended_bytes == 0


def test_eio_fsync_lets_the_append_through_and_fails_the_sync_for_good(tmp_path, faults_file):
    faults_file({"alpha": "eio_fsync"})
    alpha = WalWriter.open(tmp_path / "alpha" / "wal")
    alpha.append(b"x")
    with pytest.raises(OSError) as raised:
        alpha.sync()
    assert raised.value.errno == errno.EIO
    faults_file({})
    with pytest.raises(OSError, match="failed earlier"):  # a writer whose fsync failed is never trusted again
        alpha.sync()


def test_the_file_is_reread_at_most_once_a_second(tmp_path, faults_file):
    faults_file({})
    writer = WalWriter.open(tmp_path / "alpha" / "wal")
    writer.append(b"x")
    (tmp_path / "faults.json").write_text(json.dumps({"alpha": "eio_write"}))  # not re-read yet
    writer.append(b"y")
    faults._read_at = float("-inf")
    with pytest.raises(OSError):
        writer.append(b"z")


def test_off_without_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setattr(faults, "_path", None)
    monkeypatch.setattr(faults, "_table", {"alpha": "enospc"})
    writer = WalWriter.open(tmp_path / "alpha" / "wal")
    writer.append(b"x")
    writer.sync()
