"""Alembic environment of the item service (schema ``item``)."""

from item_service.app.models import db
from salesync_common.migrate import run_env

run_env(db.metadata)
