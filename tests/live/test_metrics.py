"""``GET /metrics`` on a live server: per-space series from the router and both workers, merged with the API's,
exact gauges, quota rejections, the default-space fallback counter, and the max_metric_spaces bound."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from engram import metrics
from engram.client import Client
from engram.testing import wait_until
from router.placement import owner
from tests.conftest import Api

WORKERS = 2


def _samples(api: Api) -> list:
    response = api.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return [sample for family in text_string_to_metric_families(response.text) for sample in family.samples]


def _value(samples: list, name: str, **labels: str) -> float | None:
    """The sum of the samples called ``name`` whose labels include ``labels`` (None when there is none)."""
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    return sum(found) if found else None


def _remember(api: Api, space: str, count: int) -> None:
    for i in range(count):
        response = api.remember(space, f"{space} fact {i} about lanterns")
        assert response.status_code == 201, response.text


def test_writes_to_a_space_show_in_its_request_memory_and_fsync_series(api, unique):
    alpha = f"{unique}-alpha"
    _remember(api, alpha, 5)
    samples = _samples(api)
    assert _value(samples, "engram_requests_total", memory_space=alpha, op="remember", outcome="ok") == 5
    assert _value(samples, "engram_request_duration_seconds_count", memory_space=alpha, op="remember") == 5
    assert _value(samples, "engram_memories", memory_space=alpha) == 5
    assert _value(samples, "engram_stored_bytes", memory_space=alpha) > 0
    assert _value(samples, "engram_wal_fsync_seconds_count", memory_space=alpha) >= 1
    assert _value(samples, "engram_wal_lag_seconds", memory_space=alpha) == 0
    assert _value(samples, "engram_wal_replay_bytes", memory_space=alpha) > 0  # five writes, no snapshot yet
    assert _value(samples, "engram_http_requests_total", route="/api/v1/spaces/{space}/memories", status="201") >= 5


def test_deleting_memories_lowers_the_memories_gauge(api, unique):
    space = f"{unique}-shrink"
    _remember(api, space, 3)
    first = api.list(space)["memories"][0]["id"]
    assert api.request("DELETE", f"/api/v1/spaces/{space}/memories/{first}").status_code == 200
    assert _value(_samples(api), "engram_memories", memory_space=space) == 2


def test_metrics_of_both_workers_appear(api, unique):
    by_worker: dict[int, str] = {}
    n = 0
    while len(by_worker) < WORKERS:
        space = f"{unique}-w{n}"
        by_worker.setdefault(owner(space, WORKERS), space)
        n += 1
    for count, space in enumerate(by_worker.values(), start=2):
        _remember(api, space, count)
    samples = _samples(api)
    for count, space in enumerate(by_worker.values(), start=2):
        assert _value(samples, "engram_memories", memory_space=space) == count, space
        assert _value(samples, "engram_wal_fsync_seconds_count", memory_space=space) >= 1, space
    for worker in by_worker:
        assert _value(samples, "engram_resident_spaces", worker=str(worker)) >= 1, worker


def test_an_idle_space_is_offloaded_counted_and_no_longer_resident(make_server, tmp_path):
    running = make_server(workers=1, extra_args=_config(tmp_path, "[workers]\nidle_offload_s = 0.5\n"))
    api = Api(running.url)
    _remember(api, "goes-idle", 2)

    def offloaded() -> bool:
        samples = _samples(api)
        return _value(samples, "engram_offloads_total", worker="0") == 1.0 and (
            _value(samples, "engram_resident_spaces", worker="0") == 0
        )

    wait_until(offloaded, timeout_s=30, message="the idle space offloaded and counted")
    assert _value(_samples(api), "engram_memories", memory_space="goes-idle") == 2  # kept while offloaded
    assert api.list("goes-idle")["total"] == 2  # a request loads it again
    assert _value(_samples(api), "engram_resident_spaces", worker="0") == 1


def test_the_workers_scheduled_full_garbage_collections_are_timed(make_server, tmp_path):
    running = make_server(workers=1, extra_args=_config(tmp_path, "[workers]\ngc_full_pass_interval_s = 0.5\n"))
    api = Api(running.url)
    _remember(api, "collects", 2)

    def passes() -> float:
        return _value(_samples(api), "engram_gc_full_pass_seconds_count", worker="0") or 0.0

    wait_until(lambda: passes() >= 2, timeout_s=30, message="two scheduled full passes of worker 0")
    assert _value(_samples(api), "engram_gc_full_pass_seconds_sum", worker="0") > 0.0


def test_a_request_without_a_space_counts_the_default_fallback(api, unique):
    name = "engram_memory_space_default_fallback_total"
    before = _value(_samples(api), name) or 0.0
    response = api.post("/api/v1/memories/remember", json={"content": f"{unique} without a space"})
    assert response.status_code == 201, response.text
    assert _value(_samples(api), name) == before + 1
    named = api.post("/api/v1/memories/remember", json={"content": "named"}, headers={"X-Memory-Space": unique})
    assert named.status_code == 201, named.text
    assert _value(_samples(api), name) == before + 1  # a request naming its space is no fallback


def test_a_native_request_without_a_space_counts_the_default_fallback_in_the_router(api, server, unique):
    name = "engram_memory_space_default_fallback_total"
    before = _value(_samples(api), name) or 0.0
    with Client(server.router) as native:  # no space: the header carries none, the router falls back
        native.remember(f"{unique} natively without a space")
    assert _value(_samples(api), name) == before + 1


def test_a_quota_rejection_is_counted_per_space_and_quota(api, unique):
    full = f"{unique}-full"
    assert api.post("/api/v1/spaces", json={"id": full, "max_memories": 1}).status_code == 201
    _remember(api, full, 1)
    refused = api.remember(full, "one too many")
    assert refused.status_code == 429, refused.text
    samples = _samples(api)
    assert _value(samples, "engram_quota_rejections_total", memory_space=full, quota="max_memories") == 1
    assert _value(samples, "engram_requests_total", memory_space=full, op="remember", outcome="QUOTA_EXCEEDED") == 1


def test_max_rps_rejections_are_counted_by_the_router(api, unique):
    limited = f"{unique}-rps"
    assert api.post("/api/v1/spaces", json={"id": limited, "max_rps": 1}).status_code == 201
    statuses = [api.get(f"/api/v1/spaces/{limited}/memories").status_code for _ in range(5)]
    refused = statuses.count(429)
    assert refused >= 1, statuses
    assert _value(_samples(api), "engram_quota_rejections_total", memory_space=limited, quota="max_rps") == refused


def _config(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "engram.toml"
    path.write_text(text)
    return ["--config", str(path)]


def test_series_stay_bounded_past_max_metric_spaces(make_server, tmp_path):
    running = make_server(workers=WORKERS, extra_args=_config(tmp_path, "[memory_spaces]\nmax_metric_spaces = 3\n"))
    api = Api(running.url)
    spaces = [f"bounded-{i}" for i in range(10)]
    for space in spaces:
        _remember(api, space, 2)
    samples = _samples(api)
    labels = {s.labels[metrics.SPACE_LABEL] for s in samples if metrics.SPACE_LABEL in s.labels}
    assert metrics.OTHER_SPACE in labels
    assert len(labels) <= 4, labels
    assert labels - {metrics.OTHER_SPACE} <= set(spaces[:3])
    # Folded spaces still add up, across both workers: every memory is counted once.
    assert _value(samples, "engram_memories") == 2 * len(spaces)
    assert _value(samples, "engram_requests_total", op="remember", outcome="ok") == 2 * len(spaces)


def test_a_worker_that_dies_is_counted_for_restart_alerts(make_server):
    running = make_server(workers=1)
    api = Api(running.url)
    assert _value(_samples(api), "engram_process_exits_total", process="worker") in (None, 0.0)
    victim = api.get("/health").json()["workers"][0]["pid"]
    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:
        worker = api.get("/health").json()["workers"][0]
        return worker["pid"] != victim and worker["ready"]

    wait_until(replaced, timeout_s=30, message="the killed worker's replacement ready")
    assert _value(_samples(api), "engram_process_exits_total", process="worker") == 1.0


def test_the_metrics_files_live_in_the_configured_directory_and_go_with_the_server(make_server, tmp_path):
    where = tmp_path / "metrics-files"
    running = make_server(workers=WORKERS, extra_args=_config(tmp_path, f'[server]\nmetrics_dir = "{where}"\n'))
    api = Api(running.url)
    _remember(api, "placed-metrics", 1)
    assert any(where.glob("*.db")) and not (running.data_dir / metrics.METRICS_DIR).exists()
    assert _value(_samples(api), "engram_memories") == 1
    running.stop()
    assert not where.exists()  # removed at a clean stop: in memory it would hold RAM until the next start
