"""Gateway rate limits: login and signup per IP, consulting and settlement per store."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app
from flask_limiter import Limiter

from salesync_common.ratelimit import client_ip

limiter = Limiter(key_func=client_ip, strategy="moving-window", headers_enabled=True)


def limit_for(kind: str) -> Callable[[], str]:
    def value() -> str:
        return str(getattr(current_app.extensions["salesync"].settings, f"{kind}_rate_limit"))

    return value
