"""Consulting service: requests, the model (or offline analyst), results out through the outbox."""

from __future__ import annotations

from flask import Flask

from salesync_common.app import create_service_app
from salesync_common.events import publisher_for
from salesync_common.outbox import OutboxRelay

from ..config import SCHEMA, Settings
from .api import consulting
from .llm import Advisor
from .models import Outbox, db
from .worker import Worker


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    app = create_service_app(
        "consulting",
        settings,
        title="Salesync consulting service",
        description="AI business advice on a period's sales, delivered through Kafka.",
        blueprints=[consulting.bp],
        db=db,
        schema=SCHEMA,
    )

    service_runtime = app.extensions["salesync"]
    publisher = publisher_for(settings, f"{settings.service_name}-outbox")
    with app.app_context():
        engine = db.engine
    relay = OutboxRelay(lambda: engine, Outbox, publisher)
    advisor = Advisor(settings)
    app.extensions["consulting_relay"] = relay
    app.extensions["consulting_advisor"] = advisor
    if settings.background_workers:
        worker = Worker(engine, settings, advisor, relay.wake)
        app.extensions["consulting_worker"] = worker
        service_runtime.start_background(relay.run_forever, "outbox-relay")
        service_runtime.start_background(worker.run_sweeper, "consulting-sweeper")
    return app
