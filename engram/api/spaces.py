"""Space registry routes: ``GET|POST /api/v1/spaces`` and ``GET /api/v1/spaces/{space}``.

Create is create-or-get (201 when created, 200 when it already existed), so a client can call it on every
start-up. The router owns the registry; these routes only translate its answers (times to RFC3339).
"""

from __future__ import annotations

from typing import cast

import falcon
import msgspec

from engram import protocol
from engram.api.bodies import CreateSpaceBody, read_body
from engram.api.conversions import rfc3339
from engram.api.gateway import Gateway
from engram.api.responses import send_json
from engram.api.spaces_resolution import FROM_BODY, FROM_PATH
from engram.ids import validate_space_id


class SpaceView(msgspec.Struct):
    id: str
    dim: int
    created_at: str
    state: str


class SpaceListView(msgspec.Struct):
    spaces: list[SpaceView]


class IndexView(msgspec.Struct):
    """The space's similarity index: sealed segments, and memories still searched exactly (docs/index.md)."""

    segments: int
    buffer: int


class SpaceDetailView(msgspec.Struct):
    id: str
    dim: int
    created_at: str
    memories: int
    worker: protocol.WorkerRef
    index: IndexView


def space_view(summary: protocol.SpaceSummary) -> SpaceView:
    return SpaceView(summary.id, summary.dim, rfc3339(summary.created_at), summary.state)


class SpacesResource:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        listing = cast(protocol.SpaceList, self._gateway.call(protocol.ListSpaces(), None))
        spaces = sorted(listing.spaces, key=lambda summary: summary.id)
        send_json(resp, SpaceListView([space_view(summary) for summary in spaces]))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_body(req, CreateSpaceBody)
        space = validate_space_id(body.id, source=FROM_BODY)
        created = cast(protocol.SpaceCreated, self._gateway.call(protocol.CreateSpace(dim=body.dim), space))
        send_json(resp, space_view(created.space), 201 if created.created else 200)


class SpaceResource:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def on_get(self, req: falcon.Request, resp: falcon.Response, space: str) -> None:
        space = validate_space_id(space, source=FROM_PATH)
        detail = cast(protocol.SpaceDetail, self._gateway.call(protocol.GetSpace(), space))
        index = IndexView(detail.segments, detail.buffer)
        view = SpaceDetailView(detail.id, detail.dim, rfc3339(detail.created_at), detail.memories, detail.worker, index)
        send_json(resp, view)
