"""Filters on recall, search and list, from a query string or a JSON body, into ``protocol.Filters``.

Query string (the original Engram's names where it had them): ``required_tags`` (or ``tags``) and
``excluded_tags`` as comma-separated lists, ``metadata`` as repeated ``key=value`` pairs, ``from_time`` and
``to_time`` as RFC 3339, ``kind`` as ``memory`` or ``episode``. JSON body: a ``filters`` object with ``tags``,
``exclude_tags``, ``metadata`` (an object), ``from_time``, ``to_time`` and ``kind``.
"""

from __future__ import annotations

import falcon
import msgspec

from engram import protocol
from engram.api.conversions import parse_timestamp
from engram.errors import EngramError, ErrorCode

FILTER_PARAMS = ("required_tags", "tags", "excluded_tags", "metadata", "from_time", "to_time", "kind")


class FilterBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    tags: list[str] = []
    exclude_tags: list[str] = []
    metadata: dict[str, str] = {}
    from_time: str | None = None
    to_time: str | None = None
    kind: str | None = None


def filters_from_query(req: falcon.Request) -> protocol.Filters | None:
    tags = _csv(req, "required_tags") + _csv(req, "tags")
    metadata = {}
    for pair in req.get_param_as_list("metadata") or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise EngramError(
                ErrorCode.INVALID_MEMORY_INPUT,
                f"Invalid query parameter 'metadata': '{pair}' is not key=value.",
                hint="Pass metadata filters as metadata=key=value, once per pair.",
            )
        metadata[key] = value
    body = FilterBody(
        tags=tags,
        exclude_tags=_csv(req, "excluded_tags"),
        metadata=metadata,
        from_time=req.get_param("from_time"),
        to_time=req.get_param("to_time"),
        kind=req.get_param("kind"),
    )
    return filters_from_body(body)


def filters_from_body(body: FilterBody | None) -> protocol.Filters | None:
    if body is None:
        return None
    filters = protocol.Filters(
        tags=body.tags,
        exclude_tags=body.exclude_tags,
        metadata=body.metadata,
        from_time=None if body.from_time is None else parse_timestamp(body.from_time, "from_time"),
        to_time=None if body.to_time is None else parse_timestamp(body.to_time, "to_time"),
        kind=body.kind,
    )
    return None if filters == protocol.Filters() else filters


def _csv(req: falcon.Request, name: str) -> list[str]:
    """Values of a list parameter given comma-separated, repeated, or both."""
    values = req.get_param_as_list(name) or []
    return [item.strip() for value in values for item in value.split(",") if item.strip()]
