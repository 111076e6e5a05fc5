"""Sale service: payments (exactly once with the order service), refunds, daily totals."""

from __future__ import annotations

from flask import Flask

from salesync_common.app import create_service_app

from ..config import SCHEMA, Settings
from .api import internal, sales
from .models import IdempotencyKeys, db
from .worker import start_recovery


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    app = create_service_app(
        "sale",
        settings,
        title="Salesync sale service",
        description="Payments of table orders (exactly once), refunds, sales per business day.",
        blueprints=[sales.bp, internal.bp],
        db=db,
        schema=SCHEMA,
        idempotency_table=IdempotencyKeys,
    )
    start_recovery(app)
    return app
