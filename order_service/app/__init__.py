"""Order service: open orders per table, lines with name/price/cost snapshots, checkout."""

from __future__ import annotations

from flask import Flask

from salesync_common.app import create_service_app

from ..config import SCHEMA, Settings
from .api import internal, orders
from .models import IdempotencyKeys, db


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    return create_service_app(
        "order",
        settings,
        title="Salesync order service",
        description="Open orders per table, order lines with snapshots, cancel and checkout.",
        blueprints=[orders.bp, internal.bp],
        db=db,
        schema=SCHEMA,
        idempotency_table=IdempotencyKeys,
    )
