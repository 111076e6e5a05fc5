"""Alembic environment of the sale service (schema ``sale``)."""

from sale_service.app.models import db
from salesync_common.migrate import run_env

run_env(db.metadata)
