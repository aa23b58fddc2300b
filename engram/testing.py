"""Start a real Engram server in a subprocess, for tests and benchmarks.

``RunningServer`` runs ``python -m engram start`` on free loopback ports and a data directory of the caller's
choosing, waits for its ready line, and stops it the way an operator would (SIGTERM). Nothing is mocked: router,
workers and gunicorn are the real processes, reached over real sockets.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0
READY_MARK = "Engram ready at "


# Below the kernel's ephemeral range (32768+ on Linux), so a port we pick is never also handed out for a process's
# own ephemeral binds (the router binds its backend socket to port 0) between our check and the server's bind.
_TEST_PORTS = range(20000, 32000)


def free_port() -> int:
    """A loopback port that is free now, chosen outside the ephemeral range."""
    for _ in range(200):
        port = random.choice(_TEST_PORTS)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port found in the test range")


class RunningServer:
    def __init__(self, data_dir: Path, workers: int = 2, extra_args: list[str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.workers = workers
        self.extra_args = extra_args or []
        self.port = free_port()
        self.router_port = free_port()
        self.events_port = free_port()
        self.process: subprocess.Popen | None = None
        self.output: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def router(self) -> str:
        return f"tcp://127.0.0.1:{self.router_port}"

    @property
    def events(self) -> str:
        return f"tcp://127.0.0.1:{self.events_port}"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "engram", "start",
            "--data-dir", str(self.data_dir),
            "--port", str(self.port),
            "--router", self.router,
            "--events", self.events,
            "--workers", str(self.workers),
            *self.extra_args,
        ]  # fmt: skip

    def start(self) -> RunningServer:
        ready = threading.Event()  # one per process: a reader of an earlier, killed process must not set it
        self.process = subprocess.Popen(
            self.command(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "ENGRAM_LOG_LEVEL": os.environ.get("ENGRAM_LOG_LEVEL", "WARNING")},
        )
        threading.Thread(target=self._pump, args=(self.process, ready), daemon=True).start()
        if not ready.wait(READY_TIMEOUT_S) or self.process.poll() is not None:
            self.kill()
            raise RuntimeError("Engram did not become ready:\n" + "".join(self.output[-60:]))
        return self

    def _pump(self, process: subprocess.Popen, ready: threading.Event) -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            self.output.append(line)
            if line.startswith(READY_MARK):
                ready.set()
        ready.set()  # exited: wake a waiting start() so it reports the failure

    def stop(self) -> int:
        """SIGTERM the supervisor and wait; return its exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError("Engram did not stop within the timeout:\n" + "".join(self.output[-60:])) from None

    def kill(self) -> None:
        """SIGKILL the whole process group's supervisor and its children (used only on failure)."""
        if self.process is not None and self.process.poll() is None:
            for pid in _descendants(self.process.pid):
                _kill_quietly(pid)
            self.process.kill()
            self.process.wait()

    def freeze(self) -> list[int]:
        """SIGSTOP the supervisor and every process under it, so that none writes, syncs or restarts another from
        here on (bench/power_cut.py cuts the power at this moment); returns their pids. ``kill`` ends them."""
        if self.process is None or self.process.poll() is not None:
            return []
        frozen: list[int] = []
        pending = [self.process.pid]
        while pending:  # a child started meanwhile is found and stopped by the next pass
            for pid in pending:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
                frozen.append(pid)
            pending = [pid for pid in _descendants(self.process.pid) if pid not in frozen]
        return frozen

    def restart(self) -> RunningServer:
        self.stop()
        return self.start()

    def __enter__(self) -> RunningServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self.kill()


def children_by_parent() -> dict[int, list[int]]:
    """Every live process's children, from /proc (a process that exits meanwhile is skipped)."""
    children_of: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children_of.setdefault(ppid, []).append(int(entry.name))
    return children_of


def _descendants(pid: int) -> list[int]:
    children_of = children_by_parent()
    found, stack = [], [pid]
    while stack:
        for child in children_of.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def wait_until(predicate, timeout_s: float = 20.0, interval_s: float = 0.05, message: str = "condition") -> None:
    """Poll ``predicate`` until it returns true or the deadline passes (then AssertionError)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    raise AssertionError(f"{message} did not hold within {timeout_s} s")
