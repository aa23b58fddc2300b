"""A closed-loop load driver over the native client, the twin of bench/httpload.py: C threads share one ``Client``
(it lends each thread its own socket), a fixed duration, and exact latency percentiles from every call.

Failures are counted under the HTTP status of their error code (the same stable codes map to both surfaces), so a
native row and a REST row of one table read alike.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.httpload import Caller, LoadResult, run_closed_loop
from engram.client import Client
from engram.errors import EngramError

# An operation gets (client, client number, sequence number) and makes one call.
NativeOperation = Callable[[Client, int, int], object]


def run_native_load(
    client: Client, name: str, operation: NativeOperation, concurrency: int, seconds: float
) -> LoadResult:
    """Native load: the client threads share one ``Client``."""

    def caller_for(number: int) -> Caller:
        def call(sequence: int) -> int | None:
            try:
                operation(client, number, sequence)
            except EngramError as error:
                return error.http_status
            return None

        return call

    return run_closed_loop(name, concurrency, seconds, caller_for)
