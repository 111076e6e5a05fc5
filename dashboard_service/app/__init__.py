"""Dashboard service: sales/profit reports, costs, settlement texts, consulting results."""

from __future__ import annotations

from flask import Flask

from salesync_common.app import create_service_app

from ..config import SCHEMA, Settings
from .api import dashboard, internal
from .consumer import start_consumer
from .models import db
from .sms import SmsSender


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    app = create_service_app(
        "dashboard",
        settings,
        title="Salesync dashboard service",
        description="Sales and profit reports, costs, settlement texts, consulting results.",
        blueprints=[dashboard.bp, internal.bp],
        db=db,
        schema=SCHEMA,
    )
    app.extensions["dashboard_sms"] = SmsSender(settings)

    service_runtime = app.extensions["salesync"]
    with app.app_context():
        engine = db.engine
    # One consumer per process, started with the service (never per request).
    service_runtime.start_background(
        lambda stop: start_consumer(settings, engine, stop), "consulting-results-consumer"
    )
    return app
