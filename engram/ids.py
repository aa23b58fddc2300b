"""Memory space identifiers and memory ids.

A space id is also the name of the space's directory under the data root, so the rule is strict and checked at every
boundary (REST, native protocol, router). The rule is the original Engram's: surrounding whitespace is trimmed, then
3 to 64 characters from ``[a-z0-9_-]``.
"""

from __future__ import annotations

import re
import secrets

from engram.errors import EngramError, ErrorCode

SPACE_ID_MIN_LEN = 3
SPACE_ID_MAX_LEN = 64
DEFAULT_SPACE = "default"
_SPACE_ID_CHARS = re.compile(r"[a-z0-9_-]+")
_SPACE_RULE = f"{SPACE_ID_MIN_LEN}-{SPACE_ID_MAX_LEN} characters using [a-z0-9_-]"
_SPACE_EXAMPLE = "e.g. 'alpha', 'tenant-42' or 'agent_7'"

MEMORY_ID_MAX_LEN = 256


def validate_space_id(raw: object, source: str = "memory space id") -> str:
    """Return the canonical (trimmed) space id, or raise INVALID_MEMORY_SPACE_ID naming the rule it breaks.

    ``source`` says where the value came from ("X-Memory-Space header", "query parameter", ...) so the message
    tells the client which of its inputs to fix.
    """
    if not isinstance(raw, str):
        raise _invalid(source, f"must be a string, got {type(raw).__name__}")
    space = raw.strip()
    if not space:
        raise _invalid(source, "is empty")
    if not SPACE_ID_MIN_LEN <= len(space) <= SPACE_ID_MAX_LEN:
        raise _invalid(source, f"'{_shorten(space)}' has invalid length {len(space)}")
    if not _SPACE_ID_CHARS.fullmatch(space):
        raise _invalid(source, f"'{_shorten(space)}' contains unsupported characters")
    return space


def is_valid_space_id(raw: object) -> bool:
    """True when ``raw`` is already a canonical space id (used when scanning directories)."""
    return isinstance(raw, str) and raw == raw.strip() and _is_canonical(raw)


def _is_canonical(space: str) -> bool:
    return SPACE_ID_MIN_LEN <= len(space) <= SPACE_ID_MAX_LEN and bool(_SPACE_ID_CHARS.fullmatch(space))


def _invalid(source: str, problem: str) -> EngramError:
    return EngramError(
        ErrorCode.INVALID_MEMORY_SPACE_ID,
        f"Invalid {source}: memory space identifier {problem}. Expected: {_SPACE_RULE}.",
        hint=f"Use {_SPACE_RULE}, {_SPACE_EXAMPLE}.",
    )


def _shorten(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[:limit] + "..."


def new_memory_id(prefix: str = "mem_") -> str:
    """A fresh id in the original Engram's shape (``mem_`` + 8 hex); callers check it against their space."""
    return prefix + secrets.token_hex(4)


def validate_memory_id(raw: object) -> str:
    """Memory ids are opaque client strings; they only need to be non-blank, bounded and printable."""
    if not isinstance(raw, str) or not raw.strip():
        raise EngramError(
            ErrorCode.INVALID_MEMORY_INPUT, "Memory id must be a non-empty string.", hint="Omit 'id' to get one."
        )
    if len(raw) > MEMORY_ID_MAX_LEN or not raw.isprintable():
        raise EngramError(
            ErrorCode.INVALID_MEMORY_INPUT,
            f"Memory id must be at most {MEMORY_ID_MAX_LEN} printable characters.",
            hint="Use a short printable id such as 'mem_1234abcd', or omit 'id' to get one.",
        )
    return raw
