"""A small closed-loop HTTP load driver shared by the benchmarks: C client threads, keep-alive connections, a fixed
duration, and exact latency percentiles from every request."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# A request factory gets (client number, sequence number) and returns (method, path, JSON body or None).
RequestFactory = Callable[[int, int], tuple[str, str, object | None]]


@dataclass
class LoadResult:
    name: str
    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return percentile(sorted(self.latencies_ms), q)

    def summary(self) -> dict:
        return {
            "name": self.name,
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 3),
            "ok": self.ok,
            "throughput_per_s": round(self.throughput, 1),
            "p50_ms": round(self.percentile(50), 3),
            "p99_ms": round(self.percentile(99), 3),
            "errors": {str(k): v for k, v in self.errors.items()},
        }


# One client's request maker: given a sequence number it makes one request and returns None on success, or the
# HTTP status (for native calls: the status of the error code) of its failure.
Caller = Callable[[int], int | None]


def run_closed_loop(name: str, concurrency: int, seconds: float, caller_for: Callable[[int], Caller]) -> LoadResult:
    """Run ``concurrency`` client threads back to back for ``seconds``; every request's latency is recorded."""
    result = LoadResult(name, concurrency, 0.0)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(number: int) -> None:
        call = caller_for(number)
        latencies: list[float] = []
        errors: dict[int, int] = {}
        sequence = 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            status = call(sequence)
            sequence += 1
            if status is None:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors[status] = errors.get(status, 0) + 1
        with lock:
            result.latencies_ms.extend(latencies)
            for status, count in errors.items():
                result.errors[status] = result.errors.get(status, 0) + count

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - started
    return result


def run_load(base_url: str, name: str, factory: RequestFactory, concurrency: int, seconds: float) -> LoadResult:
    """HTTP load: each client thread keeps one keep-alive connection."""

    def caller_for(number: int) -> Caller:
        send = http_sender(base_url)

        def call(sequence: int) -> int | None:
            status, _ = send(*factory(number, sequence))
            return None if 200 <= status < 300 else status

        return call

    return run_closed_loop(name, concurrency, seconds, caller_for)


# Sends one request on a kept-alive connection: (method, path, JSON body or None) -> (status, response body).
HttpSender = Callable[[str, str, object | None], tuple[int, bytes]]


def http_sender(base_url: str, timeout_s: float = 30.0) -> HttpSender:
    """One keep-alive connection for one client thread (``http.client`` connections are not thread-safe)."""
    target = urlsplit(base_url)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=timeout_s)

    def send(method: str, path: str, body: object | None) -> tuple[int, bytes]:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()

    return send


def percentile(ordered: list[float], q: float) -> float:
    """The ``q``-th percentile of an already sorted list (the sample at rank q% of n, no interpolation)."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]
