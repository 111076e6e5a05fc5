"""Alembic environment of the consulting service (schema ``consulting``)."""

from consulting_service.app.models import db
from salesync_common.migrate import run_env

run_env(db.metadata)
