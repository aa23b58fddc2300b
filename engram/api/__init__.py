"""The HTTP edge: a stateless Falcon app under gunicorn.

Each request is parsed and validated here, its memory space resolved, then sent as ONE native protocol message
to the router; the reply is translated into the original Engram's REST shapes. Nothing here touches memory
data or files, so any number of API processes can serve the same server.
"""
