"""Alembic per service: committed migrations, version table inside the service's own schema.

Each service's ``migrations/env.py`` is two lines that call :func:`run_env`; deployments run
``app.sh migrate`` (a k8s Job), tests and the local stacks call :func:`upgrade`.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, pool, text

from salesync_common.db import database_url, quote_schema
from salesync_common.settings import ServiceSettings

log = logging.getLogger(__name__)


def alembic_config(package: str, settings: ServiceSettings, schema: str) -> Config:
    module = importlib.import_module(package)
    assert module.__file__ is not None
    script_location = Path(module.__file__).resolve().parent / "migrations"
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["url"] = database_url(settings, schema)
    config.attributes["schema"] = schema
    return config


def upgrade(package: str, settings: ServiceSettings, schema: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(package, settings, schema), revision)


def run_env(target_metadata: MetaData) -> None:
    """Body of every service's ``migrations/env.py`` (online mode only)."""
    config = context.config
    url: str = config.attributes["url"]
    schema: str = config.attributes["schema"]
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        options: dict[str, Any] = {"target_metadata": target_metadata}
        if connection.dialect.name == "postgresql":
            # Serialise concurrent runs (several pods, parallel tests) on one lock per schema.
            connection.execute(text("SELECT pg_advisory_lock(hashtext(:s))"), {"s": schema})
            exists = connection.execute(
                text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}
            ).first()
            if exists is None:  # normally provisioned (and owned) by the platform, not the service
                connection.execute(text(f"CREATE SCHEMA {quote_schema(schema)}"))
            connection.execute(text(f"SET search_path TO {quote_schema(schema)}"))
            connection.commit()
            options["version_table_schema"] = schema
        else:
            options["render_as_batch"] = True
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_unlock(hashtext(:s))"), {"s": schema})
            connection.commit()
