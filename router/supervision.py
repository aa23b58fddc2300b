"""Worker processes: start them, notice when one dies, restart it with back-off, stop them all.

The broker calls ``reap`` on every tick of its loop (like gunicorn's arbiter): a dead worker is noticed within one
tick, its slot is marked not ready, and a replacement is started at once, or after a back-off when it keeps dying.
Readiness comes from the worker itself (``WorkerReady`` on the backend socket), not from the process existing.

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
    recent_crashes: list[float] = field(default_factory=list)

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

    def _start(self, slot: WorkerSlot) -> None:
        env = {**self._config.to_env(), **_WORKER_THREAD_ENV}
        if slot is self.builder:
            command = [sys.executable, "-m", "workers.builder", "--endpoint", self.builder_endpoint]
        else:
            command = [sys.executable, "-m", "workers", "--id", str(slot.id), "--backend", self._backend]
            command += ["--builder", self.builder_endpoint]
            if self._events is not None:
                command += ["--events", self._events]
        slot.process = subprocess.Popen(command, env=env)
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
                log.error("%s (pid %d) exited with %s; restarting", slot.name, slot.process.pid, code)
                metrics.mark_process_dead(slot.process.pid)  # its gauges must not add to its replacement's
                metrics.PROCESS_EXITS.labels("builder" if slot is self.builder else "worker").inc()
                slot.process = None
                slot.ready = False
                slot.recent_crashes = [t for t in slot.recent_crashes if now - t < CRASH_LOOP_WINDOW_S] + [now]
                backoff = RESTART_BACKOFF_BASE_S * 2 ** (len(slot.recent_crashes) - 1) - RESTART_BACKOFF_BASE_S
                slot.restart_at = now + min(backoff, RESTART_BACKOFF_MAX_S)
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
