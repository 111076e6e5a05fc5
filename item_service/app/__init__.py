"""Item service: the menu of each store (categories, items, prices, unit costs with history)."""

from __future__ import annotations

from flask import Flask

from salesync_common.app import create_service_app

from ..config import SCHEMA, Settings
from .api import categories, internal
from .models import IdempotencyKeys, db


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    return create_service_app(
        "item",
        settings,
        title="Salesync item service",
        description="Menu: categories, items, prices and unit costs (with history).",
        blueprints=[categories.bp, internal.bp],
        db=db,
        schema=SCHEMA,
        idempotency_table=IdempotencyKeys,
    )
