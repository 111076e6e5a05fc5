"""Gateway rate limits: login and signup per IP, consulting and settlement per store."""

from __future__ import annotations

from flask_limiter import Limiter

from salesync_common.ratelimit import client_ip

limiter = Limiter(key_func=client_ip, strategy="moving-window", headers_enabled=True)
