"""Query strings decoded into typed Structs, like bodies, so ranges and types are declared once.

Query values are strings, so they are converted leniently ("5" -> 5, "true"/"1" -> True) and then checked
against the Struct's constraints; a bad value is 400 INVALID_MEMORY_INPUT naming the parameter (``$.limit``).
"""

from __future__ import annotations

from typing import Annotated, TypeVar

import falcon
import msgspec

from engram.errors import EngramError, ErrorCode

MAX_LIST_LIMIT = 1000
MAX_LIST_OFFSET = 2**63 - 1  # the protocol carries it as a msgpack int64

T = TypeVar("T", bound=msgspec.Struct)


class ListQuery(msgspec.Struct, kw_only=True):
    offset: Annotated[int, msgspec.Meta(ge=0, le=MAX_LIST_OFFSET)] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_LIST_LIMIT)] = 100
    include_embeddings: bool = False


def read_query(req: falcon.Request, query_type: type[T], *, skip: tuple[str, ...] = ()) -> T:
    """The request's query parameters as ``query_type``; those in ``skip`` are the caller's to parse."""
    params = {name: value for name, value in req.params.items() if name not in skip}
    try:
        return msgspec.convert(params, query_type, strict=False)
    except msgspec.ValidationError as exc:
        raise EngramError(
            ErrorCode.INVALID_MEMORY_INPUT,
            _naming_parameter(str(exc)),
            hint="Numbers must be in range and booleans 'true' or 'false'.",
        ) from None


def _naming_parameter(problem: str) -> str:
    """Turn msgspec's "Expected `int` >= 0 - at `$.offset`" into a message about the parameter ``offset``."""
    expected, found, path = problem.partition(" - at `$.")
    if not found:
        return f"Invalid query parameter: {problem}"
    return f"Invalid query parameter '{path.rstrip('`')}': {expected}"
