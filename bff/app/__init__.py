"""The BFF: the ``/bff/*`` aggregations, the merged public OpenAPI document and ``/docs``.

It is not a proxy: the ingress routes every other public prefix straight to the service that owns
it (``salesync_common.routing``). Unknown paths reach the BFF and get the contract's JSON 404.
"""

from __future__ import annotations

from flask import Flask

from salesync_common.app import create_service_app

from ..config import Settings
from .api import aggregates
from .openapi import build_public_openapi

DESCRIPTION = (
    "The public REST API of Salesync, the POS backend. Authenticated calls carry "
    "`Authorization: Bearer <access_token>`. Errors share one JSON shape (`Error`)."
)


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    app = create_service_app(
        "bff",
        settings,
        title="Salesync public API",
        description=DESCRIPTION,
        blueprints=[aggregates.bp],
    )
    app.extensions["salesync_openapi_builder"] = build_public_openapi
    return app
