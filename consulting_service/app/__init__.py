"""Consulting service: requests, the model (or offline analyst), results out through the outbox."""

from __future__ import annotations

from flask import Flask

from salesync_common.app import create_service_app
from salesync_common.bus import Publisher, in_process_bus
from salesync_common.kafka import KafkaPublisher, kafka_client_config, wait_for_broker
from salesync_common.outbox import OutboxRelay

from ..config import SCHEMA, Settings
from .api import consulting
from .api.limits import limiter
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
    app.config["RATELIMIT_STORAGE_URI"] = settings.rate_limit_storage_uri
    app.config["RATELIMIT_ENABLED"] = settings.rate_limits_enabled
    limiter.init_app(app)

    service_runtime = app.extensions["salesync"]
    kafka = kafka_client_config(settings)
    publisher: Publisher
    if kafka is not None:
        publisher = KafkaPublisher(kafka, client_id=f"{settings.service_name}-outbox")

        def _kafka_ready() -> None:
            if not wait_for_broker(kafka, 2.0):
                raise ConnectionError("Kafka unreachable")

        service_runtime.readiness_checks["kafka"] = _kafka_ready
    else:
        publisher = in_process_bus()
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
