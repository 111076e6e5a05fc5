"""Per-store rate limits (settlement texts cost money)."""

from __future__ import annotations

from flask import current_app
from flask_limiter import Limiter

from salesync_common.auth import bearer_token, decode_access_token
from salesync_common.errors import Unauthorized
from salesync_common.ratelimit import client_ip


def store_key() -> str:
    # Counted per store; a request without a valid token is counted per IP (and then fails auth).
    try:
        identity = decode_access_token(current_app.extensions["salesync"].settings, bearer_token())
    except Unauthorized:
        return f"ip:{client_ip()}"
    return f"store:{identity.store_id}"


limiter = Limiter(key_func=store_key, strategy="moving-window", headers_enabled=True)


def setting(name: str) -> str:
    return str(getattr(current_app.extensions["salesync"].settings, name))
