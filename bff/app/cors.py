"""CORS for the browser frontend: every path answers preflights; no cookies are used."""

from __future__ import annotations

from flask import Flask, Response, request

ALLOWED_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
ALLOWED_HEADERS = "Authorization, Content-Type, X-CSRF-Token, Idempotency-Key, X-Request-ID"
EXPOSED_HEADERS = "X-Request-ID, Idempotent-Replayed, Retry-After"


def init_cors(app: Flask, origins: str) -> None:
    allowed = {origin.strip() for origin in origins.split(",") if origin.strip()}
    allow_any = "*" in allowed

    def origin_header() -> str | None:
        origin = request.headers.get("Origin")
        if allow_any:
            return "*"
        return origin if origin in allowed else None

    @app.before_request
    def _preflight() -> Response | None:
        if request.method != "OPTIONS":
            return None
        response = Response(status=204)
        allow_origin = origin_header()
        if allow_origin:
            response.headers["Access-Control-Allow-Origin"] = allow_origin
            response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
        return response

    @app.after_request
    def _cors_headers(response: Response) -> Response:
        allow_origin = origin_header()
        if allow_origin:
            response.headers["Access-Control-Allow-Origin"] = allow_origin
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if not allow_any:
            response.vary.add("Origin")
        return response
