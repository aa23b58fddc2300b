"""The router's registry: create-or-get, atomic persistence, and adoption of space directories found on disk."""

import json

from router.registry import Registry


def test_create_or_get_creates_once_and_persists(tmp_path):
    registry = Registry(tmp_path)
    registry.load()
    entry, created = registry.create("alpha", 384)
    again, created_again = registry.create("alpha", 768)
    assert created and not created_again
    assert again is entry and again.dim == 384
    reloaded = Registry(tmp_path)
    assert reloaded.load() == []
    assert [(e.id, e.dim) for e in reloaded.entries()] == [("alpha", 384)]


def test_entries_are_sorted(tmp_path):
    registry = Registry(tmp_path)
    registry.load()
    for space in ["gamma", "alpha", "beta"]:
        registry.create(space, 8)
    assert [e.id for e in registry.entries()] == ["alpha", "beta", "gamma"]


def test_space_directories_missing_from_the_registry_are_adopted(tmp_path):
    (tmp_path / "orphan").mkdir()
    (tmp_path / "orphan" / "space.json").write_text(json.dumps({"id": "orphan", "dim": 16, "created_at": 5.0}))
    (tmp_path / "Not-A-Space").mkdir()  # invalid id: never adopted
    (tmp_path / "nosettings").mkdir()  # no space.json: not a space
    registry = Registry(tmp_path)
    assert registry.load() == ["orphan"]
    assert registry.get("orphan").dim == 16
    assert "orphan" in (tmp_path / "registry.json").read_text()


def test_registry_file_is_never_left_half_written(tmp_path):
    registry = Registry(tmp_path)
    registry.load()
    registry.create("alpha", 8)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "registry.json"]
    assert leftovers == []
