"""gunicorn settings for the API processes (``gunicorn -c engram/api/gunicorn_conf.py``).

Values come from the same configuration as the rest of the server (``ENGRAM_CONFIG_JSON`` set by the
supervisor). Threaded workers suit the API: each request mostly waits on the router, so threads overlap those
waits cheaply. No ``post_fork`` hook is needed because the router gateway opens its ZeroMQ context lazily,
after the fork.
"""

from __future__ import annotations

from engram.config import config_from_env

_config = config_from_env()

wsgi_app = "engram.api.wsgi:app"
bind = [f"[{_config.host}]:{_config.port}" if ":" in _config.host else f"{_config.host}:{_config.port}"]
workers = _config.http_workers
worker_class = "gthread"
threads = _config.http_threads
graceful_timeout = 5
keepalive = 5
reuse_port = False
# The control socket defaults to one path per user ($XDG_RUNTIME_DIR/gunicorn.ctl), which two servers on one
# machine would fight over; the supervisor manages gunicorn by signals instead.
control_socket_disable = True
