"""``create_app(config)``: the whole REST surface assembled in one function, so tests build the same app."""

from __future__ import annotations

import falcon

from engram.api.archives import ExportResource, ImportResource
from engram.api.associations import AssociationsResource
from engram.api.consolidations import ConsolidateResource, ConsolidationResource, ConsolidationsResource
from engram.api.episodes import EpisodesResource
from engram.api.errors import install_error_handlers
from engram.api.events import EventsResource
from engram.api.gateway import Gateway, RouterGateway
from engram.api.health import HealthResource
from engram.api.memories import MemoriesResource, MemoryResource
from engram.api.metrics import HttpMetrics, MetricsResource
from engram.api.openapi import OpenApiResource
from engram.api.recall import RecallResource
from engram.api.search import SearchResource
from engram.api.spaces import SpaceResource, SpacesResource
from engram.api.status import SpaceStatusResource, SystemHealthResource
from engram.config import Config

API = "/api/v1"


def create_app(config: Config, gateway: Gateway | None = None) -> falcon.App:
    """The Falcon app for ``config``; ``gateway`` defaults to a ``RouterGateway`` on ``config.router``.

    Compatible routes and path-style routes share one resource each: the path style only adds ``{space}``.
    """
    gateway = gateway or RouterGateway(config.router, config.request_timeout_s)
    app = falcon.App()
    install_error_handlers(app)
    app.add_middleware(HttpMetrics())

    memories = MemoriesResource(gateway, config)
    memory = MemoryResource(gateway, config)
    recall = RecallResource(gateway, config)
    search = SearchResource(gateway, config)
    consolidations = ConsolidationsResource(gateway, config)
    consolidation = ConsolidationResource(gateway, config)
    episodes = EpisodesResource(gateway, config)

    app.add_route("/health", HealthResource(gateway))
    app.add_route("/openapi.json", OpenApiResource())  # described by engram.api.routes, like every route
    app.add_route("/metrics", MetricsResource())
    app.add_route(f"{API}/spaces", SpacesResource(gateway))
    app.add_route(f"{API}/spaces/{{space}}", SpaceResource(gateway))
    app.add_route(f"{API}/spaces/{{space}}/export", ExportResource(gateway))
    app.add_route(f"{API}/spaces/{{space}}/import", ImportResource(gateway))
    app.add_route(f"{API}/spaces/{{space}}/status", SpaceStatusResource(gateway))

    app.add_route(f"{API}/spaces/{{space}}/memories", memories)
    app.add_route(f"{API}/spaces/{{space}}/memories/{{memory_id}}", memory)
    app.add_route(f"{API}/spaces/{{space}}/recall", recall)
    app.add_route(f"{API}/spaces/{{space}}/search", search)
    app.add_route(f"{API}/spaces/{{space}}/episodes", episodes)
    app.add_route(f"{API}/spaces/{{space}}/associations", AssociationsResource(gateway, config))
    app.add_route(f"{API}/spaces/{{space}}/consolidate", ConsolidateResource(gateway, config))
    app.add_route(f"{API}/spaces/{{space}}/consolidations", consolidations)
    app.add_route(f"{API}/spaces/{{space}}/consolidations/{{pattern_id}}", consolidation)

    # Literal segments win over {memory_id}: "recall" and "remember" never reach MemoryResource.
    app.add_route(f"{API}/memories", memories)
    app.add_route(f"{API}/memories/remember", memories, suffix="remember")
    app.add_route(f"{API}/memories/recall", recall)
    app.add_route(f"{API}/memories/search", search)
    app.add_route(f"{API}/episodes/remember", episodes)
    app.add_route(f"{API}/consolidations", consolidations)
    app.add_route(f"{API}/consolidations/{{pattern_id}}", consolidation)
    app.add_route(f"{API}/memories/{{memory_id}}", memory)
    app.add_route(f"{API}/system/health", SystemHealthResource(gateway))
    events = EventsResource(gateway, config)  # server-sent events of one space (engram/api/events.py)
    app.add_route(f"{API}/spaces/{{space}}/events", events)
    app.add_route(f"{API}/stream/memories", events)
    app.add_route(f"{API}/stream/activities", events)
    return app
