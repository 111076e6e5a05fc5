"""Rate limits (login, signup, consulting, settlement) with Flask-Limiter.

Storage comes from ``RATE_LIMIT_STORAGE_URI``: ``memory://`` counts per process (fine for one
process or tests); production points it at a shared store (Redis/Memcached) so gunicorn workers and
pods share the counts.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import request
from flask_limiter.util import get_remote_address


def client_ip() -> str:
    # Behind the ingress the first X-Forwarded-For hop is the client; locally it's the peer.
    forwarded = request.headers.get("X-Forwarded-For", "")
    return forwarded.split(",")[0].strip() or get_remote_address()


def store_or_ip_key() -> str:
    """Count per store (from a valid token); a request without one is counted per IP."""
    from flask import current_app

    from salesync_common.auth import bearer_token, decode_access_token
    from salesync_common.errors import Unauthorized

    try:
        identity = decode_access_token(current_app.extensions["salesync"].settings, bearer_token())
    except Unauthorized:
        return f"ip:{client_ip()}"
    return f"store:{identity.store_id}"


def limit_from_settings(name: str) -> Callable[[], str]:
    """A limit string read from the running service's settings at request time."""

    def value() -> str:
        from flask import current_app

        return str(getattr(current_app.extensions["salesync"].settings, name))

    return value
