"""Per-store limit on new consulting requests (each may be a paid model call)."""

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
consulting_limit = limiter.shared_limit(
    lambda: str(current_app.extensions["salesync"].settings.consulting_rate_limit),
    scope="consulting-requests",
)
