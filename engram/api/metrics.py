"""``GET /metrics``: every process's metrics in the Prometheus text format, and the API's own HTTP request counter.

The answer merges the files that all processes of the server (these API workers, the router, its workers) write
under ``PROMETHEUS_MULTIPROC_DIR`` (engram/metrics.py), so any API worker answers for the whole server. It is not
JSON and not a space route: no error envelope, no space resolution.
"""

from __future__ import annotations

import falcon
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from engram import metrics

UNMATCHED_ROUTE = "unmatched"
"""The ``route`` label of a request no route matched (its raw path would make the series count unbounded)."""


class MetricsResource:
    def on_get(self, _req: falcon.Request, resp: falcon.Response) -> None:
        directory = metrics.multiprocess_dir()
        if directory is None:  # a process started without the server's supervisor: its own metrics only
            registry = REGISTRY
        else:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=directory)
        resp.data = generate_latest(registry)
        resp.content_type = CONTENT_TYPE_LATEST


class HttpMetrics:
    """Falcon middleware counting every answered request by route template (``/api/v1/spaces/{space}/...``, never
    the raw path), method and status."""

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, _resource: object, _req_succeeded: bool
    ) -> None:
        route = req.uri_template or UNMATCHED_ROUTE
        metrics.HTTP_REQUESTS.labels(route, req.method, str(resp.status_code)).inc()
