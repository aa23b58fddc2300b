"""Values as REST clients write them versus as the native protocol carries them.

Timestamps are RFC3339 strings on the wire and epoch seconds inside; embeddings are JSON float arrays on the
wire and little-endian float32 bytes inside (a list of Python floats would cost ~10x the bytes and a parse per
element at every hop). Bad values are 400 INVALID_MEMORY_INPUT naming the field, never a 500 further in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec
import numpy as np

from engram.errors import EngramError, ErrorCode

EMBEDDING_DTYPE = "<f4"
RFC3339_EXAMPLE = "2024-01-04T08:15:00Z"

_FLOAT_LIST_DECODER = msgspec.json.Decoder(list[float])
_TIMESTAMP_HINT = f"Use RFC3339 with an offset, e.g. {RFC3339_EXAMPLE}, or omit it to use the time of storage."
_EMBEDDING_HINT = (
    "Send a JSON array of finite numbers of the space's dimension, or omit it to use the built-in text embedder."
)


def parse_timestamp(raw: str, field: str = "timestamp") -> float:
    """Epoch seconds of an RFC3339 timestamp; the offset is required so the instant is unambiguous."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise _invalid(f"Invalid {field} '{raw}': expected an RFC3339 timestamp.", _TIMESTAMP_HINT) from None
    if moment.tzinfo is None:
        raise _invalid(f"Invalid {field} '{raw}': the timestamp has no UTC offset.", _TIMESTAMP_HINT)
    try:
        # In UTC it must still be a year 1-9999 date, or it could be stored but never rendered back.
        return moment.astimezone(UTC).timestamp()
    except (OverflowError, ValueError):
        raise _invalid(f"Invalid {field} '{raw}': out of range in UTC.", _TIMESTAMP_HINT) from None


def rfc3339(epoch_s: float) -> str:
    """RFC3339 in UTC with a ``Z`` suffix, as the original Engram renders timestamps."""
    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")


def embedding_bytes(values: Sequence[float], field: str = "embedding") -> bytes:
    """float32 bytes of an embedding; its dimension is checked by the worker, which knows the space's."""
    if not values:
        raise _invalid(f"Invalid {field}: the embedding is empty.", _EMBEDDING_HINT)
    with np.errstate(over="ignore"):
        vector = np.asarray(values, dtype=EMBEDDING_DTYPE)
    if not np.isfinite(vector).all():
        raise _invalid(f"Invalid {field}: every value must be a finite float32 number.", _EMBEDDING_HINT)
    return vector.tobytes()


def embedding_param(raw: str) -> bytes:
    """float32 bytes of an embedding given as a JSON array string in a query parameter (GET recall)."""
    try:
        values = _FLOAT_LIST_DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise _invalid(f"Invalid embedding format. Expected JSON array of floats ({exc}).", _EMBEDDING_HINT) from None
    return embedding_bytes(values)


def embedding_list(raw: bytes) -> list[float]:
    """An embedding back as JSON-ready floats (listing with ``include_embeddings``)."""
    return np.frombuffer(raw, dtype=EMBEDDING_DTYPE).tolist()


def _invalid(message: str, hint: str) -> EngramError:
    return EngramError(ErrorCode.INVALID_MEMORY_INPUT, message, hint=hint)
