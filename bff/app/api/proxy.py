"""Forwarding a public call to the service that owns it.

The gateway verifies the token at the edge (the services verify it again), applies rate limits,
forwards only the headers the services need, and maps a dead or slow service to a JSON 503/504.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, g, request

from salesync_common.app import runtime
from salesync_common.auth import decode_access_token
from salesync_common.errors import ApiError, Unauthorized
from salesync_common.ratelimit import client_ip, limit_from_settings

from ..routes import ROUTES, Route
from .limits import limiter

FORWARDED_REQUEST_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "X-CSRF-Token")
FORWARDED_RESPONSE_HEADERS = ("Idempotent-Replayed", "Retry-After")

bp = Blueprint("public", __name__)


def _verify_at_edge() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("인증 토큰이 필요합니다.", code="missing_token")
    g.identity = decode_access_token(runtime().settings, token.strip())


def _forward(route: Route) -> Response:
    if route.auth:
        _verify_at_edge()
    headers = {
        name: request.headers[name] for name in FORWARDED_REQUEST_HEADERS if name in request.headers
    }
    headers["X-Forwarded-For"] = request.headers.get("X-Forwarded-For", request.remote_addr or "")
    path = route.upstream or request.path
    query = request.query_string.decode("latin-1")
    upstream = (
        runtime()
        .client(route.service)
        .request(
            route.method,
            f"{path}?{query}" if query else path,
            data=request.get_data() if request.method in {"POST", "PUT"} else None,
            headers=headers,
        )
    )
    if upstream.body is None and upstream.status != 204:
        raise ApiError(status=502, code="bad_gateway", extra={"dependency": route.service})
    response = Response(upstream.raw, status=upstream.status, mimetype="application/json")
    for name in FORWARDED_RESPONSE_HEADERS:
        if name in upstream.headers:
            response.headers[name] = upstream.headers[name]
    return response


def _view_for(route: Route, endpoint: str) -> Callable[..., Any]:
    def view(**_path_args: Any) -> Response:
        return _forward(route)

    view.__name__ = endpoint
    view._gateway_route = route  # type: ignore[attr-defined]
    if route.limit:
        view = limiter.limit(
            limit_from_settings(f"{route.limit}_rate_limit"), key_func=_limit_key(route)
        )(view)
    return view


def _limit_key(route: Route) -> Callable[[], str]:
    def key() -> str:
        identity = g.get("identity")
        if route.auth and identity is None:  # limits run before the view: check the token first
            _verify_at_edge()
            identity = g.get("identity")
        subject = f"store:{identity.store_id}" if identity is not None else f"ip:{client_ip()}"
        return f"{route.limit}:{subject}"

    return key


for index, public_route in enumerate(ROUTES):
    name = f"{public_route.method.lower()}_{index}"
    bp.add_url_rule(
        public_route.rule, name, _view_for(public_route, name), methods=[public_route.method]
    )


def gateway_route(endpoint: str) -> Route | None:
    view = current_app.view_functions.get(endpoint)
    return getattr(view, "_gateway_route", None)
