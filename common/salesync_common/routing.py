"""The public route table: which service answers which public path prefix.

This table is the one place the public surface is decided. It feeds every ingress we run:
nginx in the distributed stack (``devstack/nginx.py`` renders its config from it), the ALB in
Kubernetes (``tests/deploy`` checks the Ingress rules against it), the in-process dispatcher of
``make run`` (:class:`PrefixDispatcher`), and the BFF's merged public OpenAPI document (each
service documents the paths it owns here).

Prefixes match whole path segments (``/stores`` matches ``/stores`` and ``/stores/...``, never
``/storesx``); the longest prefix wins, so a sub-route such as an event stream is one more line::

    Route("/orders/stream", "order", stream=True),  # SSE: unbuffered, long read timeout

``/internal`` (service-to-service calls) and ``/metrics`` (scraped inside the cluster) are
answered by every ingress with the JSON 404 below; everything else goes to the BFF, which owns
``/bff``, ``/docs``, ``/openapi.json`` and answers unknown paths with the JSON 404 of the contract.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_SERVICE = "bff"


@dataclass(frozen=True)
class Route:
    prefix: str  # a path prefix, matched segment by segment
    service: str  # the service that owns it
    stream: bool = False  # long-lived responses (SSE): no proxy buffering, long read timeout

    @property
    def upstream(self) -> str:
        """The process that serves it behind an ingress: a stream route has its own
        (``<service>-stream``: the same image, ``app.sh stream``), so open streams never hold
        the service's API threads. ``make run`` serves it in the service's app."""
        return f"{self.service}-stream" if self.stream else self.service


ROUTES: tuple[Route, ...] = (
    Route("/stores", "store"),
    Route("/categories", "item"),
    Route("/orders", "order"),
    Route("/orders/stream", "order", stream=True),  # SSE: unbuffered, long read timeout
    Route("/sales", "sale"),
    Route("/dashboard", "dashboard"),
    Route("/consulting", "consulting"),
)
# Reachable from no ingress: the answer is BLOCKED_BODY with status 404.
BLOCKED_PREFIXES: tuple[str, ...] = ("/internal", "/metrics")
BLOCKED_BODY: dict[str, Any] = {
    "result": "failed",
    "message": "찾을 수 없습니다.",
    "error": {"code": "not_found", "fields": {}},
}
SERVICES: tuple[str, ...] = tuple(dict.fromkeys([DEFAULT_SERVICE, *(r.service for r in ROUTES)]))
# Every process an ingress sends requests to (the services and their stream processes).
UPSTREAMS: tuple[str, ...] = tuple(dict.fromkeys([DEFAULT_SERVICE, *(r.upstream for r in ROUTES)]))


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def normalized(path: str) -> str:
    """``path`` with dot segments and repeated slashes resolved, as an ingress matches it."""
    clean = posixpath.normpath("/" + path.lstrip("/"))
    return "/" + clean.lstrip("/")  # normpath keeps a leading '//' (POSIX): one slash


def is_blocked(path: str) -> bool:
    clean = normalized(path)
    return any(_under(clean, prefix) for prefix in BLOCKED_PREFIXES)


def route_for(path: str) -> Route | None:
    """The longest route whose prefix covers ``path`` (None: the BFF's, by default)."""
    clean = normalized(path)
    matches = [route for route in ROUTES if _under(clean, route.prefix)]
    return max(matches, key=lambda route: len(route.prefix), default=None)


def service_for(path: str) -> str | None:
    """The service that answers ``path`` at the ingress; None if no ingress may route it."""
    if is_blocked(path):
        return None
    route = route_for(path)
    return route.service if route is not None else DEFAULT_SERVICE


def owned_by(path: str, service: str) -> bool:
    """Does ``service`` answer ``path`` (an OpenAPI path) when it comes through the ingress?"""
    return service_for(path) == service


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class PrefixDispatcher:
    """One WSGI app for ``make run``: each request goes to the app that owns its path, in process.

    No HTTP hop and no proxy: the services see the client's own connection (trusted proxy hops 0).
    Blocked paths get the ingress's JSON 404 with the CORS headers of ``cors_headers(origin)``.
    """

    def __init__(
        self,
        apps: Mapping[str, WsgiApp],
        cors_headers: Callable[[str | None, bool], list[tuple[str, str]]],
    ) -> None:
        missing = set(SERVICES) - set(apps)
        if missing:
            raise ValueError(f"no app for {sorted(missing)}")
        self.apps = dict(apps)
        self.cors_headers = cors_headers

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        service = service_for(environ.get("PATH_INFO", "/"))
        if service is not None:
            return self.apps[service](environ, start_response)
        preflight = environ.get("REQUEST_METHOD") == "OPTIONS"
        headers = self.cors_headers(environ.get("HTTP_ORIGIN"), preflight)
        if preflight:
            start_response("204 No Content", headers)
            return [b""]
        body = json.dumps(BLOCKED_BODY, ensure_ascii=False).encode()
        start_response(
            "404 Not Found",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                *headers,
            ],
        )
        return [body]
