"""What the load generator sends: the operation mix, the space names, and one request per operation over either
surface (REST through a keep-alive connection, or the native ``engram.client.Client``).

Every operation is the same work on both surfaces (the same text, the same space, the same page size), so a REST
run and a native run of one mix compare the stacks rather than the requests. A failure is reported as a label
``"<http status> <ERROR_CODE>"`` (both surfaces share the stable codes), or the exception's name when no answer
came back at all (a refused or reset connection, a timeout).
"""

from __future__ import annotations

import bisect
import http.client
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.httpload import http_sender
from engram.client import Client
from engram.errors import EngramError

OPERATIONS = ("remember", "recall", "episode", "list")
DEFAULT_MIX = "remember=70,recall=20,episode=5,list=5"
LIST_PAGE = 10
RECALL_RESULTS = 10
MAX_SPACES = 10_000
_SPACE_ID = re.compile(r"^[a-z0-9_-]{3,64}$")
_WORDS = ("river", "mountain", "forest", "ocean", "desert", "valley", "glacier", "canyon", "meadow", "island")

# Executes one operation in one space; returns None on success or the failure's label.
Executor = Callable[[str, str, int], str | None]


@dataclass(frozen=True)
class Mix:
    """Operation weights, e.g. ``remember=70,recall=30``; ``pick`` maps a uniform draw in [0, 1) to an operation."""

    weights: dict[str, float]

    @classmethod
    def parse(cls, text: str) -> Mix:
        weights: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, _, value = part.partition("=")
            if name not in OPERATIONS:
                raise ValueError(
                    f"unknown operation {name!r} in mix {text!r}; expected some of {', '.join(OPERATIONS)}"
                )
            try:
                weights[name] = float(value or 1)
            except ValueError:
                raise ValueError(f"weight of {name!r} in mix {text!r} is not a number: {value!r}") from None
            if weights[name] < 0:
                raise ValueError(f"weight of {name!r} in mix {text!r} is negative")
        if sum(weights.values()) <= 0:
            raise ValueError(f"mix {text!r} has no positive weight; e.g. {DEFAULT_MIX}")
        return cls({name: weight for name, weight in weights.items() if weight > 0})

    def __str__(self) -> str:
        return ",".join(f"{name}={weight:g}" for name, weight in self.weights.items())

    def pick(self, draw: float) -> str:
        names = list(self.weights)
        total = sum(self.weights.values())
        bounds, running = [], 0.0
        for name in names:
            running += self.weights[name] / total
            bounds.append(running)
        return names[min(len(names) - 1, bisect.bisect_right(bounds, draw))]


def space_names(prefix: str, count: int) -> list[str]:
    """``count`` valid space ids ``<prefix>-00000``...; the prefix keeps runs on a shared server apart."""
    if not 1 <= count <= MAX_SPACES:
        raise ValueError(f"--spaces must be 1 to {MAX_SPACES:,}, got {count}")
    names = [f"{prefix}-{i:05d}" for i in range(count)]
    if not _SPACE_ID.match(names[0]):
        raise ValueError(f"prefix {prefix!r} does not make valid space ids (3-64 of [a-z0-9_-]); e.g. 'load'")
    return names


class Chooser:
    """One client's deterministic sequence of (operation, space): spaces round-robin from a client-specific offset
    (so the total load is spread evenly over the spaces), operations drawn from the mix with a seeded generator."""

    def __init__(self, mix: Mix, spaces: int, client: int, clients: int, seed: int) -> None:
        self.mix = mix
        self.spaces = spaces
        self.offset = client * spaces // max(1, clients)
        self.rng = random.Random(seed * 100_003 + client)

    def next(self, sequence: int) -> tuple[str, int]:
        return self.mix.pick(self.rng.random()), (self.offset + sequence) % self.spaces


def content(client: int, sequence: int) -> str:
    a, b, c = (_WORDS[(client * 7 + sequence * k) % len(_WORDS)] for k in (1, 3, 7))
    return f"agent {client} saw the {a} beside the {b} and the {c} at step {sequence}"


def query(sequence: int) -> str:
    return f"{_WORDS[sequence % len(_WORDS)]} {_WORDS[(sequence * 3) % len(_WORDS)]}"


def rest_executor(base_url: str, client: int) -> Executor:
    """One client thread's REST executor (its own keep-alive connection, reopened after a transport failure)."""
    holder = [http_sender(base_url)]
    when = datetime.now(UTC).isoformat()

    def execute(operation: str, space: str, sequence: int) -> str | None:
        base = f"/api/v1/spaces/{space}"
        if operation == "remember":
            request = ("POST", f"{base}/memories", {"content": content(client, sequence)})
        elif operation == "recall":
            request = ("POST", f"{base}/recall", {"query": query(sequence), "max_results": RECALL_RESULTS})
        elif operation == "episode":
            request = ("POST", f"{base}/episodes", {"what": content(client, sequence), "when": when})
        else:
            request = ("GET", f"{base}/memories?limit={LIST_PAGE}", None)
        try:
            status, body = holder[0](*request)
        except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out, or a broken answer
            holder[0] = http_sender(base_url)
            return type(error).__name__
        if 200 <= status < 300:
            return None
        return f"{status} {_error_code(body)}"

    return execute


def native_executor(client_handle: Client, client: int) -> Executor:
    """A native executor; the threads share one ``Client`` (it lends each thread its own socket)."""
    when = datetime.now(UTC)

    def execute(operation: str, space: str, sequence: int) -> str | None:
        try:
            if operation == "remember":
                client_handle.remember(content(client, sequence), space=space)
            elif operation == "recall":
                client_handle.recall(query(sequence), max_results=RECALL_RESULTS, space=space)
            elif operation == "episode":
                client_handle.remember_episode(content(client, sequence), when, space=space)
            else:
                client_handle.list(limit=LIST_PAGE, space=space)
        except EngramError as error:
            return f"{error.http_status} {error.code.value}"
        except (OSError, TimeoutError, RuntimeError) as error:
            return type(error).__name__
        return None

    return execute


def _error_code(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "UNKNOWN"
