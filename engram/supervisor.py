"""``engram start``: run one whole server in the foreground and stop all of it cleanly.

One loop, named steps (gunicorn's arbiter is the model): check the ports and the data directory, start the router
(which starts and supervises the workers) and gunicorn, wait for ``/health``, print one ready line, then watch the two
children and restart either if it dies, until SIGINT or SIGTERM asks everything to stop. Signal handlers only set a
flag; the loop does the work.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from engram import metrics
from engram.config import Config

READY_TIMEOUT_S = 60.0
HEALTH_POLL_INTERVAL_S = 0.1
STOP_TIMEOUT_S = 9.0
CHILD_CHECK_INTERVAL_S = 0.2
CHILD_RESTART_DELAY_S = 0.5
PID_FILE = "engram.pid"
LOCK_FILE = "engram.lock"


class StartupError(Exception):
    """The server could not start; the message says why and what to do."""


class Supervisor:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._root = Path(config.data_root)
        self._stop = threading.Event()
        self._router: subprocess.Popen | None = None
        self._gunicorn: subprocess.Popen | None = None
        self._metrics_dir = metrics.metrics_dir_for(self._root, config.metrics_dir)  # emptied by run()

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)
        self._check_can_start()
        self._metrics_dir = metrics.prepare_dir(self._root, self.config.metrics_dir)
        try:
            self._router = self._start_router()
            self._gunicorn = self._start_gunicorn()
            self._wait_until_healthy()
            self._write_pid_file()
            workers = self.config.worker_count
            print(
                f"Engram ready at {self.config.http_url} (router {self.config.router}, "
                f"data {self._root}, {workers} worker{'s' if workers != 1 else ''})",
                flush=True,
            )
            self._watch_children()
        finally:
            self._stop_children()
            metrics.remove_dir(self._metrics_dir)
            (self._root / PID_FILE).unlink(missing_ok=True)
        return 0

    def _request_stop(self, _signum: int, _frame: object) -> None:
        self._stop.set()

    # -- steps -----------------------------------------------------------------------------------------------

    def _check_can_start(self) -> None:
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            probe = self._root / f".write-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StartupError(
                f"data directory {self._root} is not writable: {exc.strerror}. "
                "Choose another with --data-dir or ENGRAM_DATA_DIR, or fix its permissions."
            ) from exc
        lock = os.open(self._root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise StartupError(
                f"data directory {self._root} is in use by another Engram server. "
                "Stop it with 'engram stop', or choose another --data-dir."
            ) from exc
        finally:
            os.close(lock)  # the router takes the lock for the server's lifetime
        _check_port_free(self.config.host, self.config.port, "--port")
        router = urlsplit(self.config.router)
        if router.scheme == "tcp" and router.port:
            _check_port_free(router.hostname or "127.0.0.1", router.port, "--router")
        events = urlsplit(self.config.events)
        if events.scheme == "tcp" and events.port:
            _check_port_free(events.hostname or "127.0.0.1", events.port, "--events")

    def _child_env(self) -> dict[str, str]:
        """The configuration, and the directory where every process of the server writes its metrics
        (engram/metrics.py): the router hands it on to its workers."""
        return {**self.config.to_env(), metrics.MULTIPROC_DIR_ENV: str(self._metrics_dir)}

    def _start_router(self) -> subprocess.Popen:
        metrics.drop_dead_live_gauges(self._metrics_dir)  # of workers that died with a router that crashed
        return subprocess.Popen([sys.executable, "-m", "router"], env=self._child_env())

    def _start_gunicorn(self) -> subprocess.Popen:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "python:engram.api.gunicorn_conf",
            "engram.api.wsgi:app",
        ]
        return subprocess.Popen(command, env=self._child_env())

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        url = f"{self.config.http_url}/health"
        while time.monotonic() < deadline:
            if self._stop.is_set():
                raise StartupError("stopped before the server was ready")
            for name, child in (("router", self._router), ("gunicorn", self._gunicorn)):
                if child is not None and child.poll() is not None:
                    raise StartupError(f"the {name} exited with code {child.returncode} during start-up (see above)")
            if _health_ok(url):
                return
            time.sleep(HEALTH_POLL_INTERVAL_S)
        raise StartupError(f"{url} did not answer 200 within {READY_TIMEOUT_S:.0f} s")

    def _write_pid_file(self) -> None:
        info = {"pid": os.getpid(), "url": self.config.http_url, "router": self.config.router}
        (self._root / PID_FILE).write_text(json.dumps(info))

    def _watch_children(self) -> None:
        while not self._stop.wait(CHILD_CHECK_INTERVAL_S):
            if self._router is not None and self._router.poll() is not None:
                print(f"engram: router exited with {self._router.returncode}; restarting it", file=sys.stderr)
                time.sleep(CHILD_RESTART_DELAY_S)
                self._router = self._start_router()
            if self._gunicorn is not None and self._gunicorn.poll() is not None:
                print(f"engram: gunicorn exited with {self._gunicorn.returncode}; restarting it", file=sys.stderr)
                time.sleep(CHILD_RESTART_DELAY_S)
                self._gunicorn = self._start_gunicorn()

    def _stop_children(self) -> None:
        """Stop the HTTP edge and the router together; the router stops its workers, which fsync and close."""
        children = [c for c in (self._gunicorn, self._router) if c is not None and c.poll() is None]
        for child in children:
            child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child in children:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _check_port_free(host: str, port: int, flag: str) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(
                    f"port {port} on {host} is already in use (another Engram server?). Choose another with {flag}."
                ) from exc
            raise StartupError(f"cannot bind {host}:{port}: {exc.strerror}") from exc


def _health_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def read_pid_file(data_root: str) -> dict | None:
    """The running server's pid and URLs, or None when no server runs on this data directory."""
    try:
        return json.loads((Path(data_root) / PID_FILE).read_text())
    except (OSError, ValueError):
        return None
