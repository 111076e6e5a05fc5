"""Order service: open orders per table, lines with name/price/cost snapshots, payments.

Background work started with the app: the consumer of ``menu.items`` that keeps the read model
of the menu (``menu.py``), and the relay that publishes ``order_events`` on ``orders.events``.
"""

from __future__ import annotations

from flask import Flask

from salesync_common.app import create_service_app
from salesync_common.events import start_outbox_relay

from ..config import SCHEMA, Settings
from . import events, menu
from .api import internal, orders, receipts
from .models import IdempotencyKeys, db


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    app = create_service_app(
        "order",
        settings,
        title="Salesync order service",
        description="Open orders per table, order lines with snapshots, payments, audit events.",
        blueprints=[orders.bp, internal.bp, receipts.bp],
        db=db,
        schema=SCHEMA,
        idempotency_table=IdempotencyKeys,
    )
    service_runtime = app.extensions["salesync"]
    with app.app_context():
        engine = db.engine
    # One consumer per process (a consumer group member), never per request.
    service_runtime.start_background(
        lambda stop: menu.run_consumer(settings, engine, stop), "menu-items-consumer"
    )
    start_outbox_relay(app, db, events.source(settings.orders_events_topic), "order-events-relay")
    return app
