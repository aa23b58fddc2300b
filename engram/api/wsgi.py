"""The WSGI entry point gunicorn loads (``engram.api.wsgi:app``), configured from ``ENGRAM_CONFIG_JSON``.

Building the app opens nothing: the router connection is made lazily in each forked worker, on its first
request.
"""

from __future__ import annotations

from engram.api.app import create_app
from engram.config import config_from_env
from engram.logs import setup_logging

setup_logging("api")  # the app's own warnings (e.g. the default-space fallback) in the server's one log format
app = create_app(config_from_env())
