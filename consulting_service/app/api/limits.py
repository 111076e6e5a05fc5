"""Per-store limit on new consulting requests (each may be a paid model call)."""

from __future__ import annotations

from flask_limiter import Limiter

from salesync_common.ratelimit import limit_from_settings, store_or_ip_key

limiter = Limiter(key_func=store_or_ip_key, strategy="moving-window", headers_enabled=True)
consulting_limit = limiter.shared_limit(
    limit_from_settings("consulting_rate_limit"),
    scope="consulting-requests",
)
