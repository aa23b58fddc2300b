"""Where the metrics files go: the configured directory, else one of the server's own in memory when there is room,
else the data root; starting empties it (and an old ``<data_root>/.metrics``), stopping removes it."""

from __future__ import annotations

from engram import metrics


def test_a_configured_directory_wins(tmp_path, monkeypatch):
    monkeypatch.setattr(metrics, "RUNTIME_DIR", tmp_path / "shm")
    assert metrics.metrics_dir_for(tmp_path / "data", str(tmp_path / "mine")) == tmp_path / "mine"


def test_memory_is_used_when_it_has_room_with_one_directory_per_data_root(tmp_path, monkeypatch):
    (tmp_path / "shm").mkdir()
    monkeypatch.setattr(metrics, "RUNTIME_DIR", tmp_path / "shm")
    monkeypatch.setattr(metrics, "RUNTIME_DIR_MIN_FREE", 0)
    first, second = metrics.metrics_dir_for(tmp_path / "a"), metrics.metrics_dir_for(tmp_path / "b")
    assert first.parent == second.parent == tmp_path / "shm"
    assert first != second and metrics.metrics_dir_for(tmp_path / "a") == first


def test_the_data_root_is_used_without_room_in_memory(tmp_path, monkeypatch):
    (tmp_path / "shm").mkdir()
    monkeypatch.setattr(metrics, "RUNTIME_DIR", tmp_path / "shm")
    monkeypatch.setattr(metrics, "RUNTIME_DIR_MIN_FREE", 2**62)
    assert metrics.metrics_dir_for(tmp_path / "data") == tmp_path / "data" / metrics.METRICS_DIR
    monkeypatch.setattr(metrics, "RUNTIME_DIR", tmp_path / "missing")
    monkeypatch.setattr(metrics, "RUNTIME_DIR_MIN_FREE", 0)
    assert metrics.metrics_dir_for(tmp_path / "data") == tmp_path / "data" / metrics.METRICS_DIR


def test_prepare_empties_the_directory_and_drops_an_old_one_under_the_data_root(tmp_path, monkeypatch):
    (tmp_path / "shm").mkdir()
    monkeypatch.setattr(metrics, "RUNTIME_DIR", tmp_path / "shm")
    monkeypatch.setattr(metrics, "RUNTIME_DIR_MIN_FREE", 0)
    data = tmp_path / "data"
    (data / metrics.METRICS_DIR).mkdir(parents=True)
    (data / metrics.METRICS_DIR / "counter_1.db").write_bytes(b"old")
    path = metrics.metrics_dir_for(data)
    path.mkdir()
    (path / "counter_2.db").write_bytes(b"old")
    assert metrics.prepare_dir(data) == path
    assert list(path.iterdir()) == [] and not (data / metrics.METRICS_DIR).exists()
    metrics.remove_dir(path)
    assert not path.exists()
