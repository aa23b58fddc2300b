"""The alert rules in ops/ name only metrics the server really exports, so an alert cannot silently never fire."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from engram import metrics, protocol
from engram.errors import ErrorCode

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


# -- the Grafana dashboard (ops/grafana/engram-dashboard.json) ------------------------------------------------------

DASHBOARD = OPS / "grafana" / "engram-dashboard.json"
GRID_COLUMNS = 24
# The values a label can take where the code fixes them, so a selector on a value that never occurs (a typo) fails:
# op names come from the protocol (router/metrics.py folds any other into "other"), outcomes are "ok" or an error code.
_LABEL_VALUES = {
    "op": set(protocol.RESULT_TYPES) | {"other"},
    "outcome": {"ok"} | {code.value for code in ErrorCode},
    "process": {"worker", "builder"},  # router/supervision.py
    "quota": {"max_rps", "pacing", "max_spaces", "max_memories", "max_bytes"},  # router/metrics.py, workers/metrics.py
}
_SELECTOR = re.compile(r"\b(engram_[a-z_]+)\s*\{([^}]*)\}")
_MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"([^"]*)"')
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_PER_SPACE = re.compile(r'memory_space\s*=~?\s*"\$space"')


def _series() -> dict[str, set[str]]:
    """Every series name the server exports, with its labels: a counter is queried as ``<name>_total``, a histogram
    as ``_bucket`` (plus ``le``), ``_sum`` and ``_count``, a gauge by its name."""
    series: dict[str, set[str]] = {}
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        labels = set(value._labelnames)
        if value._type == "counter":
            series[f"{value._name}_total"] = labels
        elif value._type == "histogram":
            series[f"{value._name}_bucket"] = labels | {"le"}
            series[f"{value._name}_sum"] = labels
            series[f"{value._name}_count"] = labels
        else:
            series[value._name] = labels
    return series


def _family(series: str) -> str:
    """The metric a series belongs to: a histogram's _bucket, _sum and _count series are one metric."""
    return re.sub(r"_(bucket|sum|count)$", "", series)


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _all_panels(dashboard: dict) -> list[dict]:
    """Top-level panels and those nested in collapsed rows."""
    return [q for p in dashboard["panels"] for q in (p, *p.get("panels", []))]


def _targets(dashboard: dict) -> list[tuple[str, dict]]:
    return [(p["title"], t) for p in _all_panels(dashboard) for t in p.get("targets", [])]


def _repeated_by_space(dashboard: dict) -> list[dict]:
    """The panels of every row repeated by $space (an open row holds the panels after it, up to the next row)."""
    panels, inside = [], False
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            inside = panel.get("repeat") == "space"
            if inside:
                panels += panel.get("panels", [])
        elif inside or panel.get("repeat") == "space":
            panels.append(panel)
    return panels


def _problems_in(expr: str, series: dict[str, set[str]]) -> list[str]:
    """What in one PromQL expression names a series, a label or a label value the server does not export."""
    names = re.findall(r"\bengram_[a-z_]+\b", expr)
    problems = [f"unknown series {n}" for n in names if n not in series]
    labels = set().union(*(series.get(n, set()) for n in names))
    for name, body in _SELECTOR.findall(expr):
        for label, _op, value in _MATCHER.findall(body):
            if label not in series.get(name, set()):
                problems.append(f"{name} has no label {label}")
            elif label in _LABEL_VALUES and re.fullmatch(r"[\w|-]+", value):
                problems += [f"{label}={v!r} never occurs" for v in value.split("|") if v not in _LABEL_VALUES[label]]
    for grouping in _GROUPING.findall(expr):
        problems += [f"grouping by unknown label {g}" for g in re.findall(r"\w+", grouping) if g not in labels]
    for opening, closing in ("()", "{}", "[]"):
        if expr.count(opening) != expr.count(closing):
            problems.append(f"unbalanced {opening}{closing}")
    return problems


def test_the_dashboard_is_an_importable_grafana_dashboard():
    dashboard = _dashboard()
    assert dashboard["title"] == "Engram"
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", dashboard["uid"])
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    ids = [p["id"] for p in _all_panels(dashboard)]
    assert all(isinstance(i, int) for i in ids) and len(ids) == len(set(ids)), ids
    for panel in _all_panels(dashboard):
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) for k in "hwxy"), panel["title"]
        assert grid["h"] >= 1 and grid["w"] >= 1 and grid["x"] >= 0 and grid["x"] + grid["w"] <= GRID_COLUMNS
    boxes = [(p["title"], p["gridPos"]) for p in dashboard["panels"]]
    for i, (a, ga) in enumerate(boxes):
        for b, gb in boxes[i + 1 :]:
            apart = (ga["x"] + ga["w"] <= gb["x"] or gb["x"] + gb["w"] <= ga["x"] or ga["y"] + ga["h"] <= gb["y"]
                     or gb["y"] + gb["h"] <= ga["y"])  # fmt: skip
            assert apart, f"panels {a!r} and {b!r} overlap"


def test_every_dashboard_query_reads_the_chosen_prometheus_data_source():
    dashboard = _dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    queried = [p for p in _all_panels(dashboard) if p.get("targets")]
    assert len(queried) >= 10
    sources = [p["datasource"] for p in queried] + [t["datasource"] for _title, t in _targets(dashboard)]
    sources += [v["datasource"] for v in variables.values() if v["type"] == "query"]
    assert all(s == {"type": "prometheus", "uid": "${datasource}"} for s in sources), sources


def test_every_metric_and_label_in_the_dashboard_is_exported():
    series = _series()
    dashboard = _dashboard()
    exprs = [(title, t["expr"]) for title, t in _targets(dashboard)]
    exprs += [(f"variable {v['name']}", v["definition"]) for v in dashboard["templating"]["list"] if "definition" in v]
    problems = [f"{title}: {problem}" for title, expr in exprs for problem in _problems_in(expr, series)]
    assert problems == []
    for title, target in _targets(dashboard):
        legend_labels = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
        grouped = set(re.findall(r"\w+", " ".join(_GROUPING.findall(target["expr"]))))
        assert legend_labels <= grouped, f"{title}: legend {legend_labels - grouped} is not in the result"


def test_the_dashboard_checker_catches_names_labels_and_values_the_server_does_not_export():
    series = _series()
    assert _problems_in('sum by (op) (rate(engram_requests_total{outcome="ok"}[5m]))', series) == []
    assert _problems_in("rate(engram_requests[5m])", series)  # a counter is queried with _total
    assert _problems_in("engram_memories_total", series)
    assert _problems_in("engram_request_duration_seconds", series)  # a histogram only as _bucket/_sum/_count
    assert _problems_in('engram_memories{worker="0"}', series)
    assert _problems_in('engram_requests_total{outcome="STORAGE_UNAVAILBLE"}', series)
    assert _problems_in('engram_requests_total{op=~"remember|recal"}', series)
    assert _problems_in("sum by (worker) (engram_memories)", series)
    assert _problems_in("sum(rate(engram_http_requests_total[5m])", series)


def test_every_exported_metric_is_on_the_dashboard():
    used = {_family(n) for _title, t in _targets(_dashboard()) for n in re.findall(r"\bengram_[a-z_]+\b", t["expr"])}
    missing = sorted({_family(name) for name in _series()} - used)
    assert missing == [], f"add a panel for {missing} to ops/grafana/engram-dashboard.json"


def test_per_space_panels_repeat_by_the_space_variable_and_filter_on_it():
    dashboard = _dashboard()
    space = {v["name"]: v for v in dashboard["templating"]["list"]}["space"]
    assert space["type"] == "query" and space["multi"] and space["includeAll"]
    metric, label = re.fullmatch(r"label_values\((engram_\w+),\s*(\w+)\)", space["query"]["query"]).groups()
    assert label == metrics.SPACE_LABEL and label in _series()[metric]
    per_space = _repeated_by_space(dashboard)
    assert len(per_space) >= 5
    for panel in per_space:
        assert "$space" in panel["title"]
        assert panel["targets"] and all(_PER_SPACE.search(t["expr"]) for t in panel["targets"]), panel["title"]
    families = {_family(n) for p in per_space for t in p["targets"] for n in re.findall(r"\bengram_\w+", t["expr"])}
    per_space_families = {_family(name) for name, labels in _series().items() if metrics.SPACE_LABEL in labels}
    assert per_space_families <= families, per_space_families - families
