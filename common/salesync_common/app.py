"""Service defaults: the app factory every service builds on.

``create_service_app`` wires what each service needs the same way: settings, database, JSON errors,
request ids, JSON access logs, metrics, ``/healthz`` ``/readyz`` ``/metrics`` ``/openapi.json``
``/docs``, the service credential and the clients for sibling services, and the edge every public
service answers itself now that the ingress routes straight to it: CORS on every path, the client
IP behind our trusted proxies (``ProxyFix``), the rate limits its views declare
(:mod:`salesync_common.ratelimit`) and, with Kafka configured, the broker in ``/readyz``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request, send_from_directory
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Table, text
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from salesync_common.api import endpoint
from salesync_common.auth import (
    ServiceTokenIssuer,
    StoreIdentity,
    authenticate_service,
    authenticate_store,
)
from salesync_common.context import (
    REQUEST_ID_HEADER,
    accept_request_id,
    request_id_var,
    service_var,
    store_id_var,
)
from salesync_common.cors import CorsPolicy, init_cors
from salesync_common.db import init_db
from salesync_common.errors import register_error_handlers
from salesync_common.http import ServiceClient
from salesync_common.idempotency import IdempotencyStore
from salesync_common.logging import configure_logging
from salesync_common.metrics import LATENCY, REQUESTS, render_metrics
from salesync_common.openapi import build_openapi
from salesync_common.ratelimit import init_rate_limits
from salesync_common.settings import ServiceSettings
from salesync_common.types import ID_MAX

log = logging.getLogger("salesync.access")

MAX_BODY_BYTES = 256 * 1024
ReadinessCheck = Callable[[], None]


class IdConverter(IntegerConverter):
    """``<id:name>``: a non-negative integer that fits PostgreSQL's ``integer`` (else 404)."""

    def __init__(self, url_map: Any) -> None:
        super().__init__(url_map, max=ID_MAX)


@dataclass
class ServiceRuntime:
    """What a running service holds: reachable from views as ``runtime()``."""

    name: str
    settings: ServiceSettings
    db: SQLAlchemy | None = None
    idempotency: IdempotencyStore | None = None
    tokens: ServiceTokenIssuer | None = None
    readiness_checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    _clients: dict[str, ServiceClient] = field(default_factory=dict)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock)

    def authenticate_store(self) -> StoreIdentity:
        return authenticate_store(self.settings)

    def authenticate_service(self) -> str:
        return authenticate_service(self.settings)

    def client(self, service: str) -> ServiceClient:
        """The pooled client for a sibling service (``store``, ``item``, ``order``, ...)."""
        with self._clients_lock:
            client = self._clients.get(service)
            if client is None:
                client = ServiceClient(
                    service, self.settings.service_url(service), self.settings, self.tokens
                )
                self._clients[service] = client
            return client

    def start_background(self, target: Callable[[threading.Event], None], name: str) -> None:
        if not self.settings.background_workers:
            return

        def run(stop: threading.Event) -> None:
            service_var.set(self.name)  # its logs name this service, even in a shared process
            target(stop)

        thread = threading.Thread(target=run, args=(self.stop,), name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def shutdown(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=5)


def runtime() -> ServiceRuntime:
    return current_app.extensions["salesync"]


def create_service_app(
    name: str,
    settings: ServiceSettings,
    *,
    title: str,
    description: str = "",
    blueprints: Iterable[Blueprint] = (),
    db: SQLAlchemy | None = None,
    schema: str | None = None,
    idempotency_table: Table | None = None,
) -> Flask:
    configure_logging(name, settings.log_level)
    app = Flask(name)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    # Contract paths are served exactly, without redirects: no slash or double-slash redirects.
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False
    app.url_map.converters["id"] = IdConverter

    service_runtime = ServiceRuntime(name=name, settings=settings)
    service_runtime.tokens = ServiceTokenIssuer(settings)
    if db is not None:
        assert schema is not None
        init_db(app, db, settings, schema)
        service_runtime.db = db
        service_runtime.readiness_checks["database"] = lambda: _check_database(db, app)
        if idempotency_table is not None:
            service_runtime.idempotency = IdempotencyStore(lambda: db.engine, idempotency_table)
    if settings.kafka_bootstrap_servers:
        service_runtime.readiness_checks["kafka"] = _kafka_check(settings)
    app.extensions["salesync"] = service_runtime
    app.config["OPENAPI_INFO"] = {"title": title, "description": description}

    register_error_handlers(app)
    _register_request_hooks(app, name)
    # Preflights are answered before anything else looks at the request (limits, auth, routing).
    init_cors(app, CorsPolicy(settings.cors_origins))
    app.register_blueprint(_system_blueprint())
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    init_rate_limits(app, settings)
    if settings.trusted_proxy_hops:
        # remote_addr := the X-Forwarded-For entry our outermost trusted proxy appended.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxy_hops)  # type: ignore[method-assign]
    return app


def _kafka_check(settings: ServiceSettings) -> ReadinessCheck:
    from salesync_common.kafka import kafka_client_config, wait_for_broker

    config = kafka_client_config(settings)
    assert config is not None

    def check() -> None:
        if not wait_for_broker(config, 2.0):
            raise ConnectionError("Kafka unreachable")

    return check


def _check_database(db: SQLAlchemy, app: Flask) -> None:
    with app.app_context(), db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def _register_request_hooks(app: Flask, name: str) -> None:
    @app.before_request
    def _begin() -> None:
        g.started = time.perf_counter()
        request_id_var.set(accept_request_id(request.headers.get(REQUEST_ID_HEADER)))
        service_var.set(name)
        store_id_var.set(None)

    @app.after_request
    def _finish(response: Response) -> Response:
        duration = time.perf_counter() - g.get("started", time.perf_counter())
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        response.headers[REQUEST_ID_HEADER] = request_id_var.get() or ""
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Content-Type-Options"] = "nosniff"
        if route not in {"/metrics", "/healthz", "/readyz"}:
            REQUESTS.labels(name, request.method, route, str(response.status_code)).inc()
            LATENCY.labels(name, request.method, route).observe(duration)
            log.info(
                "request",
                extra={
                    "route": route,
                    "method": request.method,
                    "status": response.status_code,
                    "duration_ms": round(duration * 1000, 2),
                },
            )
        return response


def _system_blueprint() -> Blueprint:
    system = Blueprint("system", __name__)

    @system.get("/healthz")
    @endpoint("Liveness: the process answers", auth=None, tags=("system",))
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": runtime().name}

    @system.get("/readyz")
    @endpoint(
        "Readiness: dependencies reachable",
        auth=None,
        tags=("system",),
        responses={200: None, 503: None},
    )
    def readyz() -> tuple[dict[str, Any], int]:
        checks: dict[str, str] = {}
        ready = True
        for check_name, check in runtime().readiness_checks.items():
            try:
                check()
                checks[check_name] = "ok"
            except Exception as exc:
                ready = False
                checks[check_name] = f"unavailable: {type(exc).__name__}"
        status = "ready" if ready else "unavailable"
        return {
            "status": status,
            "service": runtime().name,
            "checks": checks,
        }, 200 if ready else 503

    @system.get("/metrics")
    def metrics() -> Response:
        payload, content_type = render_metrics()
        return Response(payload, mimetype=content_type.split(";")[0])

    @system.get("/openapi.json")
    def openapi() -> Response:
        info = current_app.config["OPENAPI_INFO"]
        document = current_app.extensions.get("salesync_openapi")
        if document is None:
            builder = current_app.extensions.get("salesync_openapi_builder", build_openapi)
            document = builder(current_app, title=info["title"], description=info["description"])
            current_app.extensions["salesync_openapi"] = document
        return jsonify(document)

    @system.get("/docs")
    def docs() -> Response:
        return Response(_DOCS_HTML, mimetype="text/html")

    @system.get("/docs/static/<path:filename>")
    def docs_static(filename: str) -> Response:
        return send_from_directory(_swagger_dir(), filename, max_age=3600)

    return system


def _swagger_dir() -> Path:
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


# Rendered from the bundled Swagger UI files: works with no network access.
_DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>API docs</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script>
</body></html>"""
