"""The BFF: Salesync's only public entry point."""

from __future__ import annotations

from flask import Flask

from salesync_common.app import create_service_app

from ..config import Settings
from .api import proxy
from .api.limits import limiter
from .cors import init_cors
from .openapi import build_public_openapi

DESCRIPTION = (
    "The public REST API of Salesync, the POS backend. Authenticated calls carry "
    "`Authorization: Bearer <access_token>`. Errors share one JSON shape (`Error`)."
)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    app = create_service_app(
        "bff", settings, title="Salesync public API", description=DESCRIPTION, blueprints=[proxy.bp]
    )
    app.extensions["salesync_openapi_builder"] = build_public_openapi
    app.config["RATELIMIT_STORAGE_URI"] = settings.rate_limit_storage_uri
    app.config["RATELIMIT_ENABLED"] = settings.rate_limits_enabled
    limiter.init_app(app)
    init_cors(app, settings.cors_origins)
    return app
