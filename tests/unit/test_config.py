"""The configuration loader: defaults < file < environment < flags, and where each effective value came from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engram.config import ENV_VARS, Config, Source, load_config, resolve_config


@pytest.fixture(autouse=True)
def no_engram_env(monkeypatch):
    """Tests set exactly the variables they mean; the developer's own ENGRAM_* settings never leak in."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def _toml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "engram.toml"
    path.write_text(text)
    return str(path)


def test_every_field_is_a_default_when_nothing_is_set():
    resolved = resolve_config()
    assert set(resolved.sources) == set(Config.__struct_fields__)
    assert set(resolved.sources.values()) == {Source.DEFAULT}
    assert resolved.config.port == Config().port and resolved.unknown == []


def test_file_env_and_flag_each_name_their_origin(tmp_path, monkeypatch):
    config_file = _toml(tmp_path, '[server]\nport = 9100\n[memory_spaces]\ndefault_space = "from-file"\n')
    monkeypatch.setenv("ENGRAM_WORKERS", "3")
    resolved = resolve_config(config_file, {"host": "0.0.0.0", "router": None})
    assert (resolved.config.port, resolved.sources["port"], resolved.origins["port"]) == (
        9100,
        Source.FILE,
        config_file,
    )
    assert resolved.config.default_space == "from-file" and resolved.sources["default_space"] is Source.FILE
    assert (resolved.config.workers, resolved.sources["workers"], resolved.origins["workers"]) == (
        3,
        Source.ENV,
        "ENGRAM_WORKERS",
    )
    assert (resolved.config.host, resolved.sources["host"]) == ("0.0.0.0", Source.FLAG)
    assert resolved.sources["router"] is Source.DEFAULT  # a flag given as None was not given


def test_load_config_keeps_returning_just_the_config(tmp_path, monkeypatch):
    monkeypatch.setenv("ENGRAM_PORT", "9200")
    config = load_config(None, {"workers": 2})
    assert isinstance(config, Config)
    assert (config.port, config.workers) == (9200, 2)
    assert config == resolve_config(None, {"workers": 2}).config


def test_unknown_file_keys_are_reported_not_applied(tmp_path):
    resolved = resolve_config(_toml(tmp_path, "[server]\nprot = 1\n[feature_flags]\nspreading = true\n"))
    assert sorted(resolved.unknown) == ["feature_flags", "prot"]
    assert resolved.sources["port"] is Source.DEFAULT


def test_a_bad_value_names_the_field(tmp_path):
    with pytest.raises(ValueError, match="port"):
        resolve_config(_toml(tmp_path, '[server]\nport = "high"\n'))


@given(
    in_file=st.one_of(st.none(), st.integers(1024, 65535)),
    in_env=st.one_of(st.none(), st.integers(1024, 65535)),
    in_flag=st.one_of(st.none(), st.integers(1024, 65535)),
)
def test_the_last_layer_that_sets_a_value_wins_and_is_reported(tmp_path_factory, in_file, in_env, in_flag):
    directory = tmp_path_factory.mktemp("layers")
    config_file = _toml(directory, f"[server]\nport = {in_file}\n") if in_file is not None else None
    saved = os.environ.pop("ENGRAM_PORT", None)
    try:
        if in_env is not None:
            os.environ["ENGRAM_PORT"] = str(in_env)
        resolved = resolve_config(config_file, {"port": in_flag})
    finally:
        os.environ.pop("ENGRAM_PORT", None)
        if saved is not None:
            os.environ["ENGRAM_PORT"] = saved
    layers = [(Source.FILE, in_file), (Source.ENV, in_env), (Source.FLAG, in_flag)]
    expected_source, expected_port = Source.DEFAULT, Config().port
    for source, value in layers:
        if value is not None:
            expected_source, expected_port = source, value
    assert (resolved.sources["port"], resolved.config.port) == (expected_source, expected_port)


@pytest.mark.parametrize("cpus", range(1, len(os.sched_getaffinity(0)) + 1))
def test_the_default_worker_count_leaves_one_of_the_usable_cpus_to_the_front_end(cpus):
    """Run in a child whose affinity allows ``cpus`` CPUs: a container or taskset limit must lower the count."""
    allowed = sorted(os.sched_getaffinity(0))[:cpus]
    code = "from engram.config import Config; print(Config().worker_count, Config(workers=3).worker_count)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        preexec_fn=lambda: os.sched_setaffinity(0, allowed),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [str(max(1, cpus - 1)), "3"]
