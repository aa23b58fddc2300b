"""The router process: space registry, placement of spaces on workers, forwarding, and worker supervision.

It never touches memory data: it reads request headers, answers registry ops, and passes opaque bodies to the
worker that owns the space.
"""
