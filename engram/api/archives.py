"""``GET /api/v1/spaces/{space}/export`` and ``POST /api/v1/spaces/{space}/import``: a space as one file.

The archive (engram/archive.py) is a tar with a checksummed manifest; the API reads only the manifest, to send the
space's dimension with the import, and the owning worker verifies the whole archive before anything is written. The
import answers 201 with the new space, 409 when the space exists, 422 INVALID_ARCHIVE when the file is damaged.
"""

from __future__ import annotations

from typing import cast

import falcon

from engram import protocol
from engram.api.gateway import Gateway
from engram.api.responses import send_json
from engram.api.spaces import space_view
from engram.api.spaces_resolution import FROM_PATH
from engram.archive import ARCHIVE_CONTENT_TYPE, MAX_ARCHIVE_BYTES, TOO_LARGE_HINT, read_manifest
from engram.errors import EngramError, ErrorCode
from engram.ids import validate_space_id


class ExportResource:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def on_get(self, req: falcon.Request, resp: falcon.Response, space: str) -> None:
        space = validate_space_id(space, source=FROM_PATH)
        exported = cast(protocol.ExportedSpace, self._gateway.call(protocol.ExportSpace(), space))
        resp.content_type = ARCHIVE_CONTENT_TYPE
        resp.set_header("Content-Disposition", f'attachment; filename="{space}.engram.tar"')
        resp.set_header("X-Engram-Memories", str(exported.memories))
        resp.data = exported.archive


class ImportResource:
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def on_post(self, req: falcon.Request, resp: falcon.Response, space: str) -> None:
        space = validate_space_id(space, source=FROM_PATH)
        archive = read_archive(req)
        request = protocol.ImportSpace(archive, read_manifest(archive).dim)
        created = cast(protocol.SpaceCreated, self._gateway.call(request, space))
        send_json(resp, space_view(created.space), 201)


def read_archive(req: falcon.Request) -> bytes:
    """The request body as an archive: ``application/x-tar``, at most ``MAX_ARCHIVE_BYTES``."""
    essence = (req.content_type or "").split(";", 1)[0].strip().lower()
    if essence not in (ARCHIVE_CONTENT_TYPE, "application/octet-stream"):
        raise EngramError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"Unsupported content type '{req.content_type or ''}'; an import body is an exported archive.",
            hint=f"Send the file from GET .../export with 'Content-Type: {ARCHIVE_CONTENT_TYPE}'.",
        )
    if req.content_length is not None and req.content_length > MAX_ARCHIVE_BYTES:
        raise _too_large()
    archive = req.bounded_stream.read(MAX_ARCHIVE_BYTES + 1)
    if len(archive) > MAX_ARCHIVE_BYTES:
        raise _too_large()
    return archive


def _too_large() -> EngramError:
    return EngramError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"An archive may be at most {MAX_ARCHIVE_BYTES} bytes.",
        hint=TOO_LARGE_HINT,
    )
