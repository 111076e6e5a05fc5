"""Sale service: payments (one call to the order service), sales, refunds, daily totals."""

from __future__ import annotations

from flask import Flask

from salesync_common.app import create_service_app

from ..config import SCHEMA, Settings
from . import clients, consumer
from .api import internal, sales, shifts
from .models import IdempotencyKeys, db


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    app = create_service_app(
        "sale",
        settings,
        title="Salesync sale service",
        description="Payments of table orders (exactly once), refunds, sales per business day.",
        blueprints=[sales.bp, shifts.bp, internal.bp],
        db=db,
        schema=SCHEMA,
        idempotency_table=IdempotencyKeys,
    )
    service_runtime = app.extensions["salesync"]
    with app.app_context():
        engine = db.engine
    # One consumer per process (a consumer group member), never per request.
    pricing_of = consumer.order_pricing(clients.OrderClient(service_runtime.client("order")))
    service_runtime.start_background(
        lambda stop: consumer.run_consumer(settings, engine, stop, pricing_of),
        "order-events-consumer",
    )
    return app
