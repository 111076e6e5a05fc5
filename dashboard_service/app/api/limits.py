"""Per-store rate limits (settlement texts cost money)."""

from __future__ import annotations

from flask_limiter import Limiter

from salesync_common.ratelimit import store_or_ip_key

limiter = Limiter(key_func=store_or_ip_key, strategy="moving-window", headers_enabled=True)
