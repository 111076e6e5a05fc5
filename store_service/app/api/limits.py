"""Login and signup rate limits (per IP, and per username for login)."""

from __future__ import annotations

from flask import request
from flask_limiter import Limiter

from salesync_common.ratelimit import client_ip

limiter = Limiter(key_func=client_ip, strategy="moving-window", headers_enabled=True)


def login_username_key() -> str:
    body = request.get_json(silent=True)
    username = body.get("username") if isinstance(body, dict) else None
    return f"login-user:{str(username)[:50].lower()}"
