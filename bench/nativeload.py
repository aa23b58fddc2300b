"""A closed-loop load driver over the native client, the twin of bench/httpload.py: C threads share one ``Client``
(it lends each thread its own socket), a fixed duration, and exact latency percentiles from every call.

Failures are counted under the HTTP status of their error code (the same stable codes map to both surfaces), so a
native row and a REST row of one table read alike.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bench.httpload import LoadResult
from engram.client import Client
from engram.errors import EngramError

# An operation gets (client, client number, sequence number) and makes one call.
NativeOperation = Callable[[Client, int, int], object]


def run_native_load(
    client: Client, name: str, operation: NativeOperation, concurrency: int, seconds: float
) -> LoadResult:
    result = LoadResult(name, concurrency, 0.0)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def caller(number: int) -> None:
        latencies: list[float] = []
        errors: dict[int, int] = {}
        sequence = 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                operation(client, number, sequence)
            except EngramError as error:
                errors[error.http_status] = errors.get(error.http_status, 0) + 1
            else:
                latencies.append((time.perf_counter() - started) * 1000)
            sequence += 1
        with lock:
            result.latencies_ms.extend(latencies)
            for status, count in errors.items():
                result.errors[status] = result.errors.get(status, 0) + count

    started = time.monotonic()
    threads = [threading.Thread(target=caller, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - started
    return result
