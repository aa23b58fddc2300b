"""What a space writes to its write-ahead log: one record per change, msgpack-encoded Structs.

Records are tagged array-like Structs: compact (no field names in every record) and still evolvable, since a
field added at the end with a default decodes from older records. Replaying every record of a log in order
rebuilds the space exactly, so a record carries everything needed to apply it, including the stored time.
"""

from __future__ import annotations

import msgspec


class PutRecord(msgspec.Struct, tag="put", array_like=True):
    """A memory stored (or replaced, when ``id`` exists already).

    ``embedding`` is little-endian float32 bytes exactly as stored: the client's vector as sent (not
    normalised, so ``get`` returns what was given), or the built-in embedder's unit vector. It is logged even
    when built in, so a later change of the embedder never changes vectors already stored.
    """

    id: str
    content: str
    embedding: bytes
    embedding_source: str  # "client" or "builtin"
    confidence: float
    observed_at: float
    stored_at: float


class DeleteRecord(msgspec.Struct, tag="delete", array_like=True):
    """A memory deleted."""

    id: str
    deleted_at: float


WalRecord = PutRecord | DeleteRecord

_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(WalRecord)


def encode_record(record: WalRecord) -> bytes:
    return _ENCODER.encode(record)


def decode_record(payload: bytes) -> WalRecord:
    """Raises ``msgspec.DecodeError`` (or ``ValidationError``) for a payload that is not a record."""
    return _DECODER.decode(payload)
