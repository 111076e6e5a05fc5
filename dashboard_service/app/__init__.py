"""Dashboard service: sales/profit reports, costs, settlement texts, consulting results."""

from __future__ import annotations

from flask import Flask

from salesync_common.app import create_service_app
from salesync_common.kafka import kafka_client_config, wait_for_broker

from ..config import SCHEMA, Settings
from .api import dashboard, internal
from .api.limits import limiter
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
    app.config["RATELIMIT_STORAGE_URI"] = settings.rate_limit_storage_uri
    app.config["RATELIMIT_ENABLED"] = settings.rate_limits_enabled
    limiter.init_app(app)
    app.extensions["dashboard_sms"] = SmsSender(settings)

    service_runtime = app.extensions["salesync"]
    kafka = kafka_client_config(settings)
    if kafka is not None:

        def _kafka_ready() -> None:
            if not wait_for_broker(kafka, 2.0):
                raise ConnectionError("Kafka unreachable")

        service_runtime.readiness_checks["kafka"] = _kafka_ready
    with app.app_context():
        engine = db.engine
    # One consumer per process, started with the service (never per request).
    service_runtime.start_background(
        lambda stop: start_consumer(settings, engine, stop), "consulting-results-consumer"
    )
    return app
