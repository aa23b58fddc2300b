"""gunicorn settings for the API processes (``gunicorn -c engram/api/gunicorn_conf.py``).

Values come from the same configuration as the rest of the server (``ENGRAM_CONFIG_JSON`` set by the
supervisor). gevent workers, not threads: an SSE stream (engram/api/events.py) holds its connection for as long as
the client listens, and with gthread each one would pin a thread, so four idle subscribers would stop a 4-thread
worker from serving anything. Under gevent each connection is a greenlet; hundreds of idle streams cost a little
memory each, and the router gateway waits on ZeroMQ through ``zmq.green`` so no wait blocks the process
(ops/gunicorn.md). No ``post_fork`` hook is needed because the gateway opens its ZeroMQ context lazily, after
the fork (and after gevent patched the worker).
"""

from __future__ import annotations

from engram.config import config_from_env

_config = config_from_env()

wsgi_app = "engram.api.wsgi:app"
bind = [f"[{_config.host}]:{_config.port}" if ":" in _config.host else f"{_config.host}:{_config.port}"]
workers = _config.http_workers
worker_class = "gevent"
worker_connections = 1000  # concurrent connections (greenlets) per worker, idle SSE streams included
graceful_timeout = 5
keepalive = 5
reuse_port = False
# The control socket defaults to one path per user ($XDG_RUNTIME_DIR/gunicorn.ctl), which two servers on one
# machine would fight over; the supervisor manages gunicorn by signals instead.
control_socket_disable = True


def child_exit(_server, worker) -> None:
    """A worker exited: drop its live gauges from the shared metrics directory (engram/metrics.py)."""
    from engram.metrics import mark_process_dead

    mark_process_dead(worker.pid)


def post_worker_init(_worker) -> None:
    """The app is loaded and the worker is about to serve: freeze its start-up objects (engram/gc_freeze.py)."""
    from engram.gc_freeze import freeze_startup_objects

    freeze_startup_objects()
