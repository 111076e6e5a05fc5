"""Alembic environment of the dashboard service (schema ``dashboard``)."""

from dashboard_service.app.models import db
from salesync_common.migrate import run_env

run_env(db.metadata)
