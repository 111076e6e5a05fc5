"""Item service: the menu of each store (categories, items, prices, unit costs with history).

Every item change is published on ``menu.items`` through the transactional outbox.
"""

from __future__ import annotations

from flask import Flask

from salesync_common.app import create_service_app
from salesync_common.events import start_outbox_relay
from salesync_common.outbox import generic_source

from ..config import SCHEMA, Settings
from . import events
from .api import categories, internal
from .models import IdempotencyKeys, Outbox, db


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    app = create_service_app(
        "item",
        settings,
        title="Salesync item service",
        description="Menu: categories, items, prices and unit costs (with history).",
        blueprints=[categories.bp, internal.bp],
        db=db,
        schema=SCHEMA,
        idempotency_table=IdempotencyKeys,
    )
    # menu.items events leave through the outbox (Kafka, or the in-process bus when embedded)
    topics = {events.TOPIC: settings.menu_items_topic}
    start_outbox_relay(app, db, generic_source(Outbox, topics))
    return app
