"""Rate limits (login, signup, consulting, settlement) with Flask-Limiter.

Storage comes from ``RATE_LIMIT_STORAGE_URI``: ``memory://`` counts per process (fine for one
process or tests); production points it at a shared store (Redis/Memcached) so gunicorn workers and
pods share the counts.
"""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address


def client_ip() -> str:
    # Behind the ingress the first X-Forwarded-For hop is the client; locally it's the peer.
    forwarded = request.headers.get("X-Forwarded-For", "")
    return forwarded.split(",")[0].strip() or get_remote_address()


def make_limiter(app: Flask, storage_uri: str, enabled: bool = True) -> Limiter:
    limiter = Limiter(
        key_func=client_ip,
        app=app,
        storage_uri=storage_uri,
        strategy="moving-window",
        enabled=enabled,
        headers_enabled=True,
    )
    return limiter
