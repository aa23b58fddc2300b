"""Which memory space a REST request addresses.

Compatible routes take the space from the ``X-Memory-Space`` header, the ``space`` query parameter or the
body's ``memory_space_id``; path-style routes take it from the path. Every source a client gives is validated,
and two sources that name different spaces are a 400 rather than a silent pick: a client that says two things
has a bug we should show it. The resolution itself is pure (``resolve_space``, ``resolve_path_space``) so its
rules are tested without HTTP; ``space_of_request`` only gathers the inputs from a Falcon request.
"""

from __future__ import annotations

import functools
import logging
from typing import NamedTuple

import falcon

from engram import metrics
from engram.config import Config
from engram.errors import EngramError, ErrorCode
from engram.ids import validate_space_id

log = logging.getLogger(__name__)

SPACE_HEADER = "X-Memory-Space"
SPACE_QUERY_PARAM = "space"

FROM_HEADER = "X-Memory-Space header"
FROM_QUERY = "query parameter"
FROM_BODY = "request body"
FROM_PATH = "path segment"
FROM_DEFAULT = "default"

MISSING_SPACE_MESSAGE = "Missing memory_space_id. Set --space or X-Memory-Space header."


class SpaceChoice(NamedTuple):
    """The resolved space and where it came from (one of the ``FROM_*`` labels)."""

    space: str
    source: str


def resolve_space(
    *,
    header: str | None,
    query: str | None,
    body: str | None,
    default: str,
    require_explicit: bool,
) -> SpaceChoice:
    """Resolve the space of a compatible route: header > query > body > default.

    Precedence only decides which label is reported; since every given source must agree, the space is the
    same whichever wins. Raises INVALID_MEMORY_SPACE_ID, MEMORY_SPACE_CONFLICT or (no source, explicit spaces
    required) MISSING_MEMORY_SPACE.
    """
    given = _validated([(FROM_HEADER, header), (FROM_QUERY, query), (FROM_BODY, body)])
    if given:
        return _agreeing(given)
    if require_explicit:
        raise EngramError(
            ErrorCode.MISSING_MEMORY_SPACE,
            MISSING_SPACE_MESSAGE,
            hint=f"Send the header '{SPACE_HEADER}: <space>' or the query parameter '?space=<space>'.",
        )
    return SpaceChoice(default, FROM_DEFAULT)


def resolve_path_space(path: str, *, header: str | None, query: str | None, body: str | None) -> SpaceChoice:
    """Resolve the space of a path-style route: the path names it, and any other given source must agree."""
    given = _validated([(FROM_PATH, path), (FROM_HEADER, header), (FROM_QUERY, query), (FROM_BODY, body)])
    return _agreeing(given)


def space_of_request(
    req: falcon.Request, config: Config, *, path_space: str | None = None, body_space: str | None = None
) -> str:
    """The space a request addresses, from its path (path-style routes) or its header, query and body."""
    header = req.get_header(SPACE_HEADER)
    query = req.get_param(SPACE_QUERY_PARAM)
    if path_space is not None:
        return resolve_path_space(path_space, header=header, query=query, body=body_space).space
    choice = resolve_space(
        header=header,
        query=query,
        body=body_space,
        default=config.default_space,
        require_explicit=config.require_explicit_space,
    )
    if choice.source == FROM_DEFAULT:
        metrics.DEFAULT_FALLBACKS.inc()  # the router counts native requests; REST ones arrive with the space set
        _warn_default_fallback(choice.space)
    return choice.space


def _validated(sources: list[tuple[str, str | None]]) -> list[tuple[str, str]]:
    return [(label, validate_space_id(raw, source=label)) for label, raw in sources if raw is not None]


def _agreeing(given: list[tuple[str, str]]) -> SpaceChoice:
    (first_label, first_space), *others = given
    for label, space in others:
        if space != first_space:
            raise EngramError(
                ErrorCode.MEMORY_SPACE_CONFLICT,
                f"Conflicting memory spaces: the {first_label} names '{first_space}' but the {label} names '{space}'.",
                hint="Name the space once, or make every source name the same space.",
            )
    return SpaceChoice(first_space, first_label)


@functools.cache
def _warn_default_fallback(space: str) -> None:
    """Warn once per process (per default space): requests without a space are deprecated, not rejected."""
    log.warning(
        "A request named no memory space and was served from the default space '%s'; this fallback is "
        "deprecated. Send the %s header, or set require_explicit_space = true to reject such requests.",
        space,
        SPACE_HEADER,
    )
