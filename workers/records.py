"""What a space writes to its write-ahead log: one record per change, msgpack-encoded Structs.

Records are tagged array-like Structs: compact (no field names in every record) and still evolvable, since a
field added at the end with a default decodes from older records. Replaying every record of a log in order
rebuilds the space exactly, so a record carries everything needed to apply it, including the stored time.
"""

from __future__ import annotations

import msgspec

from engram.protocol import EpisodeContext


class Profile(msgspec.Struct, array_like=True, omit_defaults=True, gc=False):
    """What a memory is beyond its text and vector, logged with it: tags, type, metadata, how fast it fades
    (``decay_rate`` per hour, already defaulted by kind) and, for an episode, its context.

    A space keeps one per memory, so none of it may be an object the garbage collector walks. ``gc=False``: it
    holds only strings, numbers and an episode context of them, so it can be in no reference cycle. Tags are a
    tuple (a tuple of strings is not tracked; a list, even empty, is) and metadata a dict of strings (not
    tracked). Each tracked object per memory lengthened every full collection of the worker (docs/storage.md,
    "Garbage collection")."""

    tags: tuple[str, ...] = ()
    memory_type: str | None = None
    metadata: dict[str, str] = {}
    decay_rate: float | None = None
    confidence_reasoning: str | None = None
    episode: EpisodeContext | None = None


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
    profile: Profile | None = None  # None in records written before profiles existed: a plain memory
    serial: int = 0
    """This write's identity in the space, assigned at insert and increasing: index segments refer to memories
    by serial because rows move when the columns compact (workers/index.py). 0 in records older than serials:
    replay then assigns the next one, which is the same in every replay."""


class DeleteRecord(msgspec.Struct, tag="delete", array_like=True):
    """A memory deleted."""

    id: str
    deleted_at: float


class LinkRecord(msgspec.Struct, tag="link", array_like=True):
    """An association edge formed between two live memories (kind "explicit", "similarity", "episode" or
    "temporal"); edges of a memory vanish with it when it is deleted or replaced, so no record undoes them."""

    source: str
    target: str
    weight: float
    kind: str
    linked_at: float


class TouchRecord(msgspec.Struct, tag="touch", array_like=True):
    """Memories a recall returned, reinforced at ``touched_at`` (workers/decay.py): each one's last access is reset,
    its access count raised by one and its confidence nudged up."""

    ids: list[str]
    touched_at: float


WalRecord = PutRecord | DeleteRecord | LinkRecord | TouchRecord

_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(WalRecord)


def encode_record(record: WalRecord) -> bytes:
    return _ENCODER.encode(record)


def decode_record(payload: bytes) -> WalRecord:
    """Raises ``msgspec.DecodeError`` (or ``ValidationError``) for a payload that is not a record."""
    return _DECODER.decode(payload)
