"""The alert rules in ops/ name only metrics the server really exports, so an alert cannot silently never fire."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from engram import metrics

OPS = Path(__file__).resolve().parents[2] / "ops"


def _exported() -> set[str]:
    names = set()
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            names.add(value._name)  # a counter's _name leaves out "_total"
            names.add(f"{value._name}_total")
    return names


def test_every_metric_in_the_alert_rules_is_exported():
    rules = (OPS / "prometheus" / "engram-alerts.yml").read_text()
    used = set(re.findall(r"\bengram_[a-z_]+\b", rules))
    assert used, "the alert rules should use Engram metrics"
    assert used <= _exported(), sorted(used - _exported())


def test_the_systemd_unit_runs_engram_start():
    unit = (OPS / "systemd" / "engram.service").read_text()
    assert re.search(r"^ExecStart=\S*engram start ", unit, re.M)
    assert "KillSignal=SIGTERM" in unit
