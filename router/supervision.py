"""Worker processes: start them, notice when one dies, restart it (with back-off when it cannot start), stop them all.

The broker calls ``reap`` on every tick of its loop (like gunicorn's arbiter): a dead worker is noticed within one
tick, its slot is marked not ready, and a replacement is started. Readiness comes from the worker itself
(``WorkerReady`` on the backend socket), not from the process existing.

Only a worker that dies before it is ready is held back (``restart_delay``), as supervisord does with ``startsecs``:
one that cannot start (a bad configuration, data its recovery cannot read) would otherwise spin a core on restarts
that cannot succeed. A worker that came up and then died has shown that it starts, and every request for its spaces
waits for it, so it is restarted at once (about 0.4 s to ready), however often that happens.

The index builder (workers/builder.py) is supervised the same way, in a slot of its own: it serves every worker,
which connect to it on a loopback port chosen here and passed to them with ``--builder``.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from engram import metrics
from engram.config import Config

log = logging.getLogger(__name__)

RESTART_BACKOFF_BASE_S = 0.2
RESTART_BACKOFF_MAX_S = 5.0
CRASH_LOOP_WINDOW_S = 30.0
WORKER_STOP_TIMEOUT_S = 8.0

# Workers serve single-threaded: a spinning BLAS pool under CPU contention multiplies query latency (measured 20x).
_WORKER_THREAD_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "NUMBA_THREADING_LAYER": "workqueue",
}


BUILDER_SLOT_ID = -1


def restart_delay(start_failures: int) -> float:
    """Seconds before a replacement starts, given how often the slot's process died before ready within the window.

    The first failure is retried at once, then 0.2, 0.6, 1.4, 3 s and at most 5 s: a few quick retries ride out a
    passing cause (a port or a file briefly held), a persistent one costs a start every 5 s.
    """
    if start_failures <= 0:
        return 0.0
    return min(RESTART_BACKOFF_BASE_S * (2 ** (start_failures - 1) - 1), RESTART_BACKOFF_MAX_S)


def worker_identity(worker_id: int) -> bytes:
    return f"w{worker_id}".encode()


@dataclass
class WorkerSlot:
    id: int
    process: subprocess.Popen | None = None
    ready: bool = False
    restarts: int = 0
    started_at: float = 0.0
    restart_at: float | None = None
    start_failures: list[float] = field(default_factory=list)  # when it died before ready, within the window

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def name(self) -> str:
        return "index builder" if self.id == BUILDER_SLOT_ID else f"worker {self.id}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class WorkerPool:
    def __init__(self, config: Config, backend_endpoint: str, events_endpoint: str | None = None) -> None:
        self._config = config
        self._backend = backend_endpoint
        self._events = events_endpoint  # the router's XSUB socket, where workers publish (router/events.py)
        self.slots = [WorkerSlot(i) for i in range(config.worker_count)]
        self.builder = WorkerSlot(BUILDER_SLOT_ID)
        self.builder_endpoint = _free_loopback_endpoint()

    def start_all(self) -> None:
        # Workers first: the server is ready when they are, and the builder is only needed once a space seals.
        for slot in (*self.slots, self.builder):
            self._start(slot)

    def _command(self, slot: WorkerSlot) -> list[str]:
        if slot is self.builder:
            return [sys.executable, "-m", "workers.builder", "--endpoint", self.builder_endpoint]
        command = [sys.executable, "-m", "workers", "--id", str(slot.id), "--backend", self._backend]
        command += ["--builder", self.builder_endpoint]
        if self._events is not None:
            command += ["--events", self._events]
        return command

    def _start(self, slot: WorkerSlot) -> None:
        env = {**self._config.to_env(), **_WORKER_THREAD_ENV}
        slot.process = subprocess.Popen(self._command(slot), env=env)
        slot.ready = False
        slot.started_at = time.monotonic()
        slot.restart_at = None
        log.info("%s started (pid %d)", slot.name, slot.process.pid)

    def reap(self) -> list[WorkerSlot]:
        """Notice dead workers, schedule or perform their restart; return the slots that died since last call."""
        now = time.monotonic()
        died = []
        for slot in (*self.slots, self.builder):
            if slot.process is not None and slot.process.poll() is not None:
                code = slot.process.returncode
                metrics.mark_process_dead(slot.process.pid)  # its gauges must not add to its replacement's
                metrics.PROCESS_EXITS.labels("builder" if slot is self.builder else "worker").inc()
                if slot.ready:
                    slot.start_failures = []
                else:
                    slot.start_failures = [t for t in slot.start_failures if now - t < CRASH_LOOP_WINDOW_S] + [now]
                delay = restart_delay(len(slot.start_failures))
                log.error("%s (pid %d) exited with %s %s; restarting%s", slot.name, slot.process.pid, code,
                          "after it was ready" if slot.ready else "before it was ready",
                          f" in {delay:.1f} s" if delay else "")  # fmt: skip
                slot.process = None
                slot.ready = False
                slot.restart_at = now + delay
                died.append(slot)
            if slot.process is None and slot.restart_at is not None and now >= slot.restart_at:
                slot.restarts += 1
                self._start(slot)
        return died

    def stop_all(self) -> None:
        """SIGTERM every worker (they fsync and close their spaces), then SIGKILL what is left after the timeout."""
        running = [slot for slot in (*self.slots, self.builder) if slot.alive]
        for slot in running:
            slot.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + WORKER_STOP_TIMEOUT_S
        for slot in running:
            try:
                slot.process.wait(max(0.0, deadline - time.monotonic()))  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                log.error("%s did not stop in %.0f s; killing it", slot.name, WORKER_STOP_TIMEOUT_S)
                os.kill(slot.process.pid, signal.SIGKILL)  # type: ignore[union-attr]
                slot.process.wait()  # type: ignore[union-attr]


def _free_loopback_endpoint() -> str:
    """A tcp endpoint on a loopback port free right now (the builder binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"
