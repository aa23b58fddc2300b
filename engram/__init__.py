"""Engram: a multi-tenant memory server for AI agents.

The ``engram`` package holds what the router, the workers and the API share: space ids, error codes, the native
protocol's messages and the configuration. ``router/`` and ``workers/`` are the two server processes; ``engram.api``
is the HTTP edge that runs under gunicorn.
"""

__version__ = "0.1.0"
