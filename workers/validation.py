"""The rules a space's inputs must follow, each failure an INVALID_MEMORY_INPUT that says what was wrong and
how to fix it.

A space checks a whole request before it writes anything, so a bad memory in a batch leaves the log untouched.
"""

from __future__ import annotations

import math

import numpy as np

from engram.errors import EngramError, ErrorCode

MAX_CONTENT_BYTES = 100_000
MAX_RESULTS = 1000


def invalid(message: str, hint: str) -> EngramError:
    return EngramError(ErrorCode.INVALID_MEMORY_INPUT, message, hint=hint)


def check_content(content: str) -> None:
    if not content.strip():
        raise invalid("Memory content must not be blank.", "Send the text to remember in 'content'.")
    try:
        size = len(content.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise invalid(f"Memory content is not valid Unicode text: {exc.reason}.", "Send UTF-8 text.") from None
    if size > MAX_CONTENT_BYTES:
        raise invalid(
            f"Memory content is {size} bytes; at most {MAX_CONTENT_BYTES} bytes (UTF-8) are allowed.",
            "Split long text into several memories.",
        )


def check_embedding(raw: bytes, dim: int) -> tuple[np.ndarray, float]:
    """The unit vector and the norm of a client embedding (little-endian float32 bytes of the space's dim)."""
    if len(raw) != 4 * dim:
        whole = len(raw) % 4 == 0
        got = str(len(raw) // 4) if whole else f"{len(raw)} bytes, not a whole number of float32 values"
        raise invalid(
            f"Embedding must be exactly {dim} dimensions, got {got}.",
            f"This memory space stores {dim}-dimensional embeddings. Send {dim} values, omit 'embedding' "
            "to use the built-in text embedder, or use a space created with another dimension: "
            'POST /api/v1/spaces {"id": "my-space", "dim": N}.',
        )
    vector = np.frombuffer(raw, dtype="<f4")
    if not np.isfinite(vector).all():
        raise invalid("Embedding contains NaN or infinite values.", "Send finite numbers only.")
    norm = float(np.linalg.norm(vector.astype(np.float64)))
    if norm == 0.0:
        raise invalid(
            "Embedding is all zeros; it has no direction to compare.",
            "Send a real embedding, or omit 'embedding' to use the built-in text embedder.",
        )
    return (vector / norm).astype(np.float32), norm


def check_confidence(confidence: float) -> None:
    if not (math.isfinite(confidence) and 0.0 <= confidence <= 1.0):
        raise invalid(f"Confidence must be a number from 0 to 1, got {confidence}.", "Use e.g. 0.7 (the default).")


def check_timestamp(observed_at: float) -> None:
    if not math.isfinite(observed_at):
        raise invalid(
            f"Observation time must be a finite timestamp, got {observed_at}.",
            "Omit it to use the time of storing.",
        )


def check_recall(query: str | None, embedding: bytes | None, threshold: float, max_results: int) -> None:
    """Check a recall's parameters (the embedding's content is checked by ``check_embedding``)."""
    if embedding is None and (query is None or not query.strip()):
        raise invalid(
            "Recall needs a non-blank 'query' or an 'embedding'.",
            "Pass query text (e.g. query=mitochondria), an embedding, or both.",
        )
    if not (math.isfinite(threshold) and 0.0 <= threshold <= 1.0):
        raise invalid(
            f"Threshold must be a number from 0 to 1, got {threshold}.",
            "Use e.g. 0.5 (the default); 0 returns everything up to max_results.",
        )
    if not 1 <= max_results <= MAX_RESULTS:
        raise invalid(f"max_results must be from 1 to {MAX_RESULTS}, got {max_results}.", "Use e.g. 10 (the default).")


def check_page(offset: int, limit: int) -> None:
    if offset < 0 or not 0 <= limit <= MAX_RESULTS:
        raise invalid(
            f"Page offset must be at least 0 and limit from 0 to {MAX_RESULTS}, got offset {offset}, limit {limit}.",
            "Use e.g. offset=0&limit=100, then offset=100 for the next page.",
        )
