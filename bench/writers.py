"""The fault harnesses' writers: threads that remember, replace and delete memories over REST and log every answer.

Each thread owns a share of the spaces (so each space sees one write at a time, and each id one writer) and walks
them round robin. Per write it draws the kind from the mix: ``remember`` a new id, ``replace`` the content of an id it
stored before with the next version, or ``delete`` such an id. It replaces and deletes only ids whose every write so
far was acknowledged and left them present, so that an answer saying the id was not there shows a lost write
(bench/promises.py). Draws are seeded by the id prefix and the thread's number, so a failing run writes the same
sequence again (the moments of its answers, and so of its faults, still vary).

The checks (``check_spaces``) list every space and hold the listing against the promises of the answers logged so
far (bench/promises.py); they pause the writers first, so that no write is in flight while the spaces are read and a
listing paged by offset cannot skip a memory that a concurrent delete moved.
"""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import requests

from bench.promises import (
    CREATE_SPACE,
    DELETE,
    DELETE_SPACE,
    EXISTS,
    MEMORY_KINDS,
    REMEMBER,
    REPLACE,
    SPACE_KEY,
    Finding,
    Outcome,
    acknowledged_by_kind,
    check,
    content,
)
from engram.testing import wait_until

LIST_PAGE = 1000
WRITE_TIMEOUT_S = 15.0
CONNECTION_BACKOFF_S = 0.02  # a writer facing a refused connection (server restarting) does not spin
DEFAULT_MIX = {REMEMBER: 0.7, REPLACE: 0.15, DELETE: 0.15}
MEMORIES_PER_INCARNATION = 3
SPACE_GONE = ("MEMORY_SPACE_NOT_FOUND", "MEMORY_SPACE_DELETED")


class Writers:
    """Threads writing round robin over their spaces (module docstring); every answer goes into ``outcomes``."""

    def __init__(
        self,
        url: str,
        spaces: list[str],
        writers: int,
        id_prefix: str = "",
        mix: dict[str, float] | None = None,
        lifecycle_spaces: list[str] | None = None,
    ) -> None:
        self.url = url
        self.id_prefix = id_prefix  # writers of a later round on the same spaces use new ids (bench/power_cut.py)
        self.mix = dict(mix or DEFAULT_MIX)
        if set(self.mix) - set(MEMORY_KINDS) or self.mix.get(REMEMBER, 0.0) <= 0:
            raise ValueError(f"a mix weighs {', '.join(MEMORY_KINDS)} (remember above 0), got {self.mix}")
        lifecycle_spaces = list(lifecycle_spaces or [])
        self.spaces = list(spaces) + lifecycle_spaces  # every space written, for the checks
        self.outcomes: list[Outcome] = []
        self._acknowledged = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._running = threading.Event()  # cleared by ``pause``
        self._running.set()
        self._paused = 0  # threads waiting in ``pause``
        self._threads = [
            threading.Thread(target=self._write, args=(n, spaces[n::writers]), daemon=True) for n in range(writers)
        ]
        if lifecycle_spaces:
            self._threads.append(threading.Thread(target=self._cycle, args=(lifecycle_spaces,), daemon=True))

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def pause(self) -> None:
        """Stop writing and close every connection (a server stopping cleanly then does not wait for them); returns
        once no write is in flight."""
        self._running.clear()
        wait_until(lambda: self._paused == len(self._threads), WRITE_TIMEOUT_S + 5, message="writers paused")

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        for thread in self._threads:
            thread.join()

    def total(self) -> int:
        """Acknowledged writes of every kind."""
        with self._lock:
            return self._acknowledged

    def by_kind(self) -> dict[str, int]:
        """Acknowledged writes per kind (bench/promises.py)."""
        with self._lock:
            return acknowledged_by_kind(self.outcomes)

    def unacknowledged(self) -> int:
        """Writes answered with anything but an acknowledgement (or not answered at all)."""
        with self._lock:
            return sum(1 for o in self.outcomes if not o.acknowledged)

    def since(self, start: float) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if o.sent >= start]

    def _write(self, number: int, spaces: list[str]) -> None:
        rng = random.Random(f"{self.id_prefix}w{number}")
        kinds, weights = list(self.mix), list(self.mix.values())
        present: dict[str, list[str]] = {space: [] for space in spaces}  # ids replace and delete may pick
        versions: dict[str, int] = {}
        session = requests.Session()
        sequence = 0
        while not self._stop.is_set():
            if not self._running.is_set():
                session = self._wait_paused(session)
                continue
            sequence += 1
            space = spaces[sequence % len(spaces)]
            kind = rng.choices(kinds, weights)[0] if present[space] else REMEMBER
            if kind == REMEMBER:
                memory_id, version = f"{self.id_prefix}w{number}-{sequence}", 0
            else:
                memory_id = rng.choice(present[space])
                version = versions[memory_id] + (kind == REPLACE)
            outcome = send_write(session, self.url, space, kind, memory_id, version)
            self._log(outcome)
            if kind == REMEMBER and outcome.acknowledged:
                present[space].append(memory_id)
                versions[memory_id] = 0
            elif kind == REPLACE and outcome.acknowledged and not outcome.contradicts:
                versions[memory_id] = version
            elif kind != REMEMBER:  # deleted, or its state unknown (or lost): never written again
                present[space].remove(memory_id)

    def _cycle(self, spaces: list[str]) -> None:
        """Create each space, remember ``MEMORIES_PER_INCARNATION`` memories in it, delete it, and again: one write
        per space in turn. The memory ids recur in every incarnation of a space (with the incarnation as their
        content's version), so a space created again that showed an earlier incarnation's data shows it stale."""
        steps = MEMORIES_PER_INCARNATION + 2  # create, the memories, delete
        step = dict.fromkeys(spaces, 0)
        incarnation = dict.fromkeys(spaces, 0)
        known: dict[str, str | None] = dict.fromkeys(spaces)  # EXISTS / "absent" after an acknowledged create / delete
        session = requests.Session()
        turn = 0
        while not self._stop.is_set():
            if not self._running.is_set():
                session = self._wait_paused(session)
                continue
            space = spaces[turn % len(spaces)]
            turn += 1
            if step[space] == 0:
                incarnation[space] += 1
            outcome = send_lifecycle_step(
                session, self.url, space, step[space], steps, f"{self.id_prefix}m", incarnation[space], known[space]
            )
            self._log(outcome)
            step[space] = (step[space] + 1) % steps
            if outcome.kind in (CREATE_SPACE, DELETE_SPACE):
                known[space] = (EXISTS if outcome.kind == CREATE_SPACE else "absent") if outcome.acknowledged else None
            elif not outcome.acknowledged:
                known[space] = None

    def _log(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)
            self._acknowledged += outcome.acknowledged
        if outcome.code == "CONNECTION":
            self._stop.wait(CONNECTION_BACKOFF_S)

    def _wait_paused(self, session: requests.Session) -> requests.Session:
        """Close the connection and wait out a pause; returns the session to go on with."""
        session.close()
        with self._lock:
            self._paused += 1
        self._running.wait()
        with self._lock:
            self._paused -= 1
        return requests.Session()


def send_write(session: requests.Session, url: str, space: str, kind: str, memory_id: str, version: int) -> Outcome:
    """One write of a memory and its answer. A delete answered MEMORY_NOT_FOUND is acknowledged (the id is absent, as
    asked) and ``contradicts``; so is a replace answered ``replaced: false``."""
    sent = time.monotonic()
    contradicts = False
    try:
        if kind == DELETE:
            response = session.delete(f"{url}/api/v1/spaces/{space}/memories/{memory_id}", timeout=WRITE_TIMEOUT_S)
            code = "OK" if response.status_code == 200 else _error_code(response)
            if code == "MEMORY_NOT_FOUND":
                code, contradicts = "OK", True
        else:
            response = session.post(
                f"{url}/api/v1/spaces/{space}/memories",
                json={"id": memory_id, "content": content(space, memory_id, version)},
                timeout=WRITE_TIMEOUT_S,
            )
            code = "OK" if response.status_code == 201 else _error_code(response)
            contradicts = code == "OK" and kind == REPLACE and not response.json()["replaced"]
    except requests.RequestException:
        code = "CONNECTION"
    return Outcome(space, sent, time.monotonic(), code, memory_id, kind, version, contradicts)


def send_lifecycle_step(
    session: requests.Session,
    url: str,
    space: str,
    step: int,
    steps: int,
    id_stem: str,
    incarnation: int,
    known: str | None,
) -> Outcome:
    """Step ``step`` of a space's incarnation: 0 creates it, the last deletes it, the others remember memory
    ``<id_stem><step>``. ``known`` is what the last acknowledged write of the space left (None: unknown since); an
    answer that contradicts it is flagged (bench/promises.py)."""
    sent = time.monotonic()
    if 0 < step < steps - 1:
        outcome = send_write(session, url, space, REMEMBER, f"{id_stem}{step}", incarnation)
        outcome.contradicts = known == EXISTS and outcome.code in SPACE_GONE
        return outcome
    kind = CREATE_SPACE if step == 0 else DELETE_SPACE
    contradicts = False
    try:
        if kind == CREATE_SPACE:
            response = session.post(f"{url}/api/v1/spaces", json={"id": space}, timeout=WRITE_TIMEOUT_S)
            code = "OK" if response.status_code in (200, 201) else _error_code(response)
            contradicts = code == "OK" and response.status_code == 200 and known == "absent"  # the delete undone
        else:
            response = session.delete(f"{url}/api/v1/spaces/{space}", timeout=WRITE_TIMEOUT_S)
            code = "OK" if response.status_code == 200 else _error_code(response)
            if code in SPACE_GONE:  # absent, as asked; but not if its create was acknowledged
                code, contradicts = "OK", known == EXISTS
    except requests.RequestException:
        code = "CONNECTION"
    return Outcome(space, sent, time.monotonic(), code, SPACE_KEY, kind, incarnation, contradicts)


def _error_code(response: requests.Response) -> str:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP_{response.status_code}"


def exists(url: str, space: str) -> bool:
    """Whether ``space`` exists (not unknown, not deleted)."""
    response = requests.get(f"{url}/api/v1/spaces/{space}", timeout=30)
    if response.status_code in (404, 410):
        return False
    response.raise_for_status()
    return True


def stored(url: str, space: str) -> list[dict]:
    """Every memory of ``space``, paged by offset (read while nothing writes to it: see the module docstring)."""
    memories: list[dict] = []
    offset = 0
    while True:
        response = requests.get(
            f"{url}/api/v1/spaces/{space}/memories", params={"offset": offset, "limit": LIST_PAGE}, timeout=30
        )
        response.raise_for_status()
        page = response.json()["memories"]
        memories += page
        if len(page) < LIST_PAGE:
            return memories
        offset += LIST_PAGE


def publish(summary: dict, recovery_s: list[float], lost: list[str], leaks: list[str], out: str | Path) -> None:
    """Print a loss harness's figures as a table (and its first losses and leaks), and write them with its lists as
    JSON to ``out`` (bench/crash_loop.py, bench/power_cut.py)."""
    print("| figure | value |\n|---|---|")
    for key, value in summary.items():
        print(f"| {key} | {value} |")
    if lost or leaks:
        print("LOST:", lost[:20], "LEAKS:", leaks[:20])
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**summary, "recovery_s": recovery_s, "lost": lost, "leaks": leaks}, indent=2))


def check_spaces(
    url: str,
    spaces: list[str],
    outcomes: list[Outcome],
    excused: set[str] = frozenset(),  # type: ignore[assignment]
) -> tuple[list[Finding], list[str]]:
    """Lost acknowledged writes (bench/promises.py) and cross-space leaks ("space/id": a memory listed in space S
    whose content does not start with "S "), with ``outcomes`` all answered before the call (writers paused or
    stopped). ``excused`` holds "space/id" keys not to check."""
    checked_from = time.monotonic()
    listed = {}
    for space in spaces:
        there = exists(url, space)
        memories = {m["id"]: str(m.get("content", "")) for m in stored(url, space)} if there else {}
        listed[space] = {SPACE_KEY: EXISTS, **memories} if there else {}
    leaks = [
        f"{space}/{memory_id}"
        for space, memories in listed.items()
        for memory_id, text in memories.items()
        if memory_id != SPACE_KEY and not text.startswith(f"{space} ")
    ]
    return check(listed, outcomes, checked_from, excused), leaks
