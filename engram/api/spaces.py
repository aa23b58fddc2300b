"""Space registry routes: ``GET|POST /api/v1/spaces`` and ``GET|PATCH|DELETE /api/v1/spaces/{space}``.

Create is create-or-get (201 when created, 200 when it already existed), so a client can call it on every
start-up. A space's policy (durability and quotas) travels flat beside its other fields, in bodies and answers alike,
so what a GET shows can be sent back as a PATCH. Delete tombstones the space at once (then every request to it is
410 until it is created again, empty) and its data is purged in the background. The listing hides deleted spaces
unless asked with ``?include_deleted=true``. The router owns the registry; these routes only translate its answers
(times to RFC3339).
"""

from __future__ import annotations

from typing import Any, cast

import falcon
import msgspec

from engram import protocol
from engram.api.bodies import CreateSpaceBody, UpdateSpaceBody, read_body
from engram.api.conversions import rfc3339
from engram.api.gateway import Gateway
from engram.api.responses import send_json
from engram.api.spaces_resolution import FROM_BODY, FROM_PATH
from engram.ids import validate_space_id

INCLUDE_DELETED_PARAM = "include_deleted"


class SpaceView(msgspec.Struct):
    """A space and its policy. ``deleted_at`` is set for a deleted space (listed only with ``include_deleted``)."""

    id: str
    dim: int
    created_at: str
    state: str
    durability: str
    durability_interval_ms: int
    max_memories: int | None
    max_bytes: int | None
    max_rps: float | None
    deleted_at: str | None = None


class SpaceListView(msgspec.Struct):
    spaces: list[SpaceView]


class IndexView(msgspec.Struct):
    """The space's similarity index: sealed segments, and memories still searched exactly (docs/index.md)."""

    segments: int
    buffer: int


class SpaceDetailView(msgspec.Struct):
    """A space with what it holds: ``memories`` live memories taking about ``stored_bytes`` (what ``max_bytes``
    counts), the worker that owns it and its index."""

    id: str
    dim: int
    created_at: str
    memories: int
    worker: protocol.WorkerRef
    index: IndexView
    state: str
    durability: str
    durability_interval_ms: int
    max_memories: int | None
    max_bytes: int | None
    max_rps: float | None
    stored_bytes: int


class SpaceDeletedView(msgspec.Struct):
    """The space is deleted: requests to it are 410 from now on; its data is purged in the background."""

    id: str
    state: str
    deleted: bool = True


def policy_fields(policy: protocol.SpacePolicy) -> dict[str, Any]:
    return msgspec.structs.asdict(policy)


def space_view(summary: protocol.SpaceSummary) -> SpaceView:
    deleted_at = None if summary.deleted_at is None else rfc3339(summary.deleted_at)
    return SpaceView(
        id=summary.id,
        dim=summary.dim,
        created_at=rfc3339(summary.created_at),
        state=summary.state,
        deleted_at=deleted_at,
        **policy_fields(summary.policy),
    )


def policy_patch(body: protocol.SpacePolicyPatch) -> protocol.SpacePolicyPatch:
    """The policy fields of a REST body, as the native protocol's patch."""
    fields = protocol.SpacePolicyPatch.__struct_fields__
    return protocol.SpacePolicyPatch(**{name: getattr(body, name) for name in fields})


class SpacesResource:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        include_deleted = req.get_param_as_bool(INCLUDE_DELETED_PARAM, default=False)
        listing = cast(protocol.SpaceList, self._gateway.call(protocol.ListSpaces(include_deleted), None))
        spaces = sorted(listing.spaces, key=lambda summary: summary.id)
        send_json(resp, SpaceListView([space_view(summary) for summary in spaces]))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_body(req, CreateSpaceBody)
        space = validate_space_id(body.id, source=FROM_BODY)
        patch = policy_patch(body)
        request = protocol.CreateSpace(dim=body.dim, policy=patch if patch != protocol.SpacePolicyPatch() else None)
        created = cast(protocol.SpaceCreated, self._gateway.call(request, space))
        send_json(resp, space_view(created.space), 201 if created.created else 200)


class SpaceResource:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def on_get(self, req: falcon.Request, resp: falcon.Response, space: str) -> None:
        space = validate_space_id(space, source=FROM_PATH)
        detail = cast(protocol.SpaceDetail, self._gateway.call(protocol.GetSpace(), space))
        view = SpaceDetailView(
            id=detail.id,
            dim=detail.dim,
            created_at=rfc3339(detail.created_at),
            memories=detail.memories,
            worker=detail.worker,
            index=IndexView(detail.segments, detail.buffer),
            state=detail.state,
            stored_bytes=detail.stored_bytes,
            **policy_fields(detail.policy),
        )
        send_json(resp, view)

    def on_patch(self, req: falcon.Request, resp: falcon.Response, space: str) -> None:
        space = validate_space_id(space, source=FROM_PATH)
        body = read_body(req, UpdateSpaceBody)
        updated = cast(protocol.SpaceSummary, self._gateway.call(protocol.UpdateSpace(policy_patch(body)), space))
        send_json(resp, space_view(updated))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, space: str) -> None:
        space = validate_space_id(space, source=FROM_PATH)
        deleted = cast(protocol.SpaceDeleted, self._gateway.call(protocol.DeleteSpace(), space))
        send_json(resp, SpaceDeletedView(deleted.id, deleted.state))
