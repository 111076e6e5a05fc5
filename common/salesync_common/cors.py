"""CORS for the browser frontend, as the contract says, on every path of every service.

The client runs on another origin and preflights every call: ``OPTIONS`` on any path (known or
not) answers 204 with the allowed origin, methods and headers; every other answer carries the
allowed origin too. No cookies are used, so credentials are never allowed. ``CORS_ORIGINS`` is
``*`` or a comma-separated list of origins (an origin not in it gets no CORS headers at all).
The ingresses answer their own responses (blocked paths, a service down) with the same headers:
``devstack/nginx.py`` renders them from this module.
"""

from __future__ import annotations

from flask import Flask, Response, request

ALLOWED_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, X-CSRF-Token, Idempotency-Key, X-Request-ID"
EXPOSED_HEADERS = "X-Request-ID, Idempotent-Replayed, Retry-After"
MAX_AGE_SECONDS = "600"


class CorsPolicy:
    """Which origins may call; the headers an answer to ``origin`` carries."""

    def __init__(self, origins: str) -> None:
        self.origins = frozenset(o.strip() for o in origins.split(",") if o.strip())
        self.allow_any = "*" in self.origins

    def allowed_origin(self, origin: str | None) -> str | None:
        if self.allow_any:
            return "*"
        return origin if origin in self.origins else None

    def headers(self, origin: str | None, preflight: bool) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = [] if self.allow_any else [("Vary", "Origin")]
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return headers
        headers.append(("Access-Control-Allow-Origin", allowed))
        if preflight:
            headers += [
                ("Access-Control-Allow-Methods", ALLOWED_METHODS),
                ("Access-Control-Allow-Headers", ALLOWED_HEADERS),
                ("Access-Control-Max-Age", MAX_AGE_SECONDS),
            ]
        else:
            headers.append(("Access-Control-Expose-Headers", EXPOSED_HEADERS))
        return headers


def init_cors(app: Flask, policy: CorsPolicy) -> None:
    """Preflights answered before routing (so unknown paths answer them too); headers on all."""

    @app.before_request
    def _preflight() -> Response | None:
        if request.method != "OPTIONS":
            return None
        response = Response(status=204)
        for name, value in policy.headers(request.headers.get("Origin"), preflight=True):
            response.headers[name] = value
        return response

    @app.after_request
    def _cors_headers(response: Response) -> Response:
        if request.method == "OPTIONS":  # answered by _preflight, headers included
            return response
        for name, value in policy.headers(request.headers.get("Origin"), preflight=False):
            if name == "Vary":
                response.vary.add(value)
            else:
                response.headers[name] = value
        return response
