"""Store service: accounts, login, JWT issuing, profile and password, staff and PIN sessions."""

from __future__ import annotations

from flask import Flask

from salesync_common.app import create_service_app

from ..config import SCHEMA, Settings
from .api import internal, staff, stores
from .models import IdempotencyKeys, db


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    app = create_service_app(
        "store",
        settings,
        title="Salesync store service",
        description="Stores (accounts): signup, login, profile, password; staff and PIN sessions.",
        blueprints=[stores.bp, staff.bp, internal.bp],
        db=db,
        schema=SCHEMA,
        idempotency_table=IdempotencyKeys,
    )
    return app
