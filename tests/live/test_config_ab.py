"""bench/config_ab.py at a tiny size: one real server per value, each with the setting applied, and per value the
figures of all its rounds together."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import config_ab  # noqa: E402


def test_each_value_gets_its_own_servers_and_its_rounds_summed_up(tmp_path, capsys):
    out = tmp_path / "ab.json"
    argv = ["--setting", "sync_overwrites", "--values", "false,true", "--blocks", "2", "--rounds", "1",
            "--counts", "1,3", "--seconds", "0.5", "--concurrency", "2", "--out", str(out)]  # fmt: skip

    assert config_ab.main(argv) == 0

    result = json.loads(out.read_text())
    assert set(result["results"]) == {"false", "true"}
    for value, row in result["results"].items():
        blocks = result["runs"][value]
        assert len(blocks) == 2 and all(set(block["space_counts"]) == {"1", "3"} for block in blocks)
        assert len(row["round_ratios"]) == 2 and row["ratio_median"] == round(statistics.median(row["round_ratios"]), 4)
        assert row["throughput_per_s"]["1"] > 0 and row["throughput_per_s"]["3"] > 0
    printed = capsys.readouterr().out
    assert "=== block 1: sync_overwrites = false" in printed and "=== block 2: sync_overwrites = true" in printed
    assert "| true |" in printed


def test_the_setting_reaches_the_server(tmp_path):
    """A value the configuration refuses stops the server's start, naming the key: the setting really is passed."""
    with pytest.raises(RuntimeError, match="did not become ready") as failure:
        config_ab.measure("sync_overwrites", '"not a boolean"', [1], 0.2, 1, 1, 1)
    assert "sync_overwrites" in str(failure.value)
