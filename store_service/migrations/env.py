"""Alembic environment of the store service (schema ``store``)."""

from salesync_common.migrate import run_env
from store_service.app.models import db

run_env(db.metadata)
