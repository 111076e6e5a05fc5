"""Alembic environment of the order service (schema ``order``)."""

from order_service.app.models import db
from salesync_common.migrate import run_env

run_env(db.metadata)
