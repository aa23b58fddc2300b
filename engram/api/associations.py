"""Explicit associations: ``POST /api/v1/spaces/{space}/associations`` ``{"source", "target", "weight"}``.

An association is a symmetric edge of the space's graph (kind "explicit") that spreading activation follows at
recall. Both memories must exist in that space (404 ``MEMORY_NOT_FOUND`` otherwise: a space never links to
another's memories); ``weight`` (default 1.0) must be above 0 and at most 1. Associating the same pair again sets
the new weight. Answers 201 with the edge.
"""

from __future__ import annotations

import math
from typing import cast

import falcon
import msgspec

from engram import protocol
from engram.api.bodies import read_body
from engram.api.gateway import Gateway
from engram.api.responses import send_json
from engram.api.spaces_resolution import space_of_request
from engram.config import Config
from engram.errors import EngramError, ErrorCode
from engram.ids import validate_memory_id


class AssociationBody(msgspec.Struct, kw_only=True):
    source: str
    target: str
    weight: float = 1.0
    memory_space_id: str | None = None


class AssociationResponse(msgspec.Struct):
    source: str
    target: str
    weight: float
    kind: str
    memory_space_id: str


class AssociationsResource:
    def __init__(self, gateway: Gateway, config: Config) -> None:
        self._gateway = gateway
        self._config = config

    def on_post(self, req: falcon.Request, resp: falcon.Response, space: str | None = None) -> None:
        body = read_body(req, AssociationBody)
        if not (math.isfinite(body.weight) and 0.0 < body.weight <= 1.0):
            raise EngramError(
                ErrorCode.INVALID_MEMORY_INPUT,
                f"Association weight must be above 0 and at most 1, got {body.weight:g}.",
                hint="Send e.g. 0.8, or omit 'weight' for 1.0.",
            )
        source, target = validate_memory_id(body.source), validate_memory_id(body.target)
        space = space_of_request(req, self._config, path_space=space, body_space=body.memory_space_id)
        request = protocol.Associate(source, target, body.weight)
        edge = cast(protocol.Associated, self._gateway.call(request, space))
        send_json(resp, AssociationResponse(edge.source, edge.target, edge.weight, "explicit", space), 201)
