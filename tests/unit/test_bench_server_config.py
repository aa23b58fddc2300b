"""A benchmark's own server gets the settings asked for (bench/load.py ``server_config_text``), read back by the
server's own configuration loader, and bench/fairness.py refuses --inflight-limit for a server it does not start."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import fairness  # noqa: E402
from bench.load import NO_INDEX_SEAL_ROWS, server_config_text  # noqa: E402
from engram.config import Config, load_config  # noqa: E402


def test_the_settings_reach_the_servers_configuration(tmp_path):
    path = tmp_path / "bench.toml"
    path.write_text(server_config_text({"space_inflight_limit": 16}))
    config = load_config(str(path))
    assert config.space_inflight_limit == 16
    assert config.index_seal_rows == NO_INDEX_SEAL_ROWS


def test_without_settings_the_server_keeps_its_defaults_but_index_builds(tmp_path):
    path = tmp_path / "bench.toml"
    path.write_text(server_config_text({}))
    config = load_config(str(path))
    assert config.space_inflight_limit == Config().space_inflight_limit
    assert config.index_seal_rows == NO_INDEX_SEAL_ROWS


def test_fairness_refuses_an_inflight_limit_for_a_server_it_does_not_start(capsys):
    with pytest.raises(SystemExit) as exited:
        fairness.main(["--url", "http://127.0.0.1:1", "--inflight-limit", "8"])
    assert exited.value.code == 2
    assert "--inflight-limit" in capsys.readouterr().err
