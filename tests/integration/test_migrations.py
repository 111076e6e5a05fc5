"""Every service's migrations, upgraded on a fresh PostgreSQL schema, create the recorded tables.

``migrated_schemas.json`` is what ``upgrade head`` created when revisions still imported live
helpers (``salesync_common.tables``); each revision now freezes what it creates, and this test
keeps it so: a later edit of an old revision, or of a helper one still imported, would change
the tables a fresh deployment gets. A new migration changes the snapshot on purpose: rewrite it
with ``python -m tests.integration.test_migrations`` and review the diff.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, pool

from devstack import postgres
from devstack.stack import SERVICES
from devstack.testing import fresh_database, make_settings
from salesync_common.db import database_url
from salesync_common.migrate import upgrade

SNAPSHOT = Path(__file__).with_name("migrated_schemas.json")
# The services with a database (the BFF has none), in the stack's order.
PACKAGES = tuple(s.package for s in SERVICES if s.name != "bff")


def schema_of(url: str, schema: str) -> dict[str, Any]:
    """Tables of ``schema`` as plain data: columns, keys, indexes and constraints, sorted."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        found = inspect(engine)
        tables: dict[str, Any] = {}
        for table in sorted(found.get_table_names(schema=schema)):
            tables[table] = {
                "columns": [
                    {
                        "name": column["name"],
                        "type": repr(column["type"]),
                        "nullable": column["nullable"],
                        "default": column.get("default"),
                    }
                    for column in found.get_columns(table, schema=schema)
                ],
                "primary_key": found.get_pk_constraint(table, schema=schema)["constrained_columns"],
                "indexes": sorted(
                    (
                        {
                            "name": index["name"],
                            "columns": index["column_names"],
                            "unique": bool(index["unique"]),
                            "where": index.get("dialect_options", {}).get("postgresql_where"),
                        }
                        for index in found.get_indexes(table, schema=schema)
                    ),
                    key=lambda index: str(index["name"]),
                ),
                "unique": sorted(
                    (
                        {"name": unique["name"], "columns": unique["column_names"]}
                        for unique in found.get_unique_constraints(table, schema=schema)
                    ),
                    key=lambda unique: str(unique["name"]),
                ),
                "foreign_keys": sorted(
                    (
                        {
                            "columns": key["constrained_columns"],
                            "references": f"{key['referred_table']}"
                            f"({', '.join(key['referred_columns'])})",
                            "on_delete": key.get("options", {}).get("ondelete"),
                        }
                        for key in found.get_foreign_keys(table, schema=schema)
                    ),
                    key=lambda key: str(key["columns"]),
                ),
                "checks": sorted(
                    check["sqltext"] for check in found.get_check_constraints(table, schema=schema)
                ),
            }
        return tables
    finally:
        engine.dispose()


def migrate_fresh(dbname: str) -> dict[str, Any]:
    """Upgrade every service to head in a fresh database ``dbname``; each schema's tables."""
    migrated: dict[str, Any] = {}
    for package in PACKAGES:
        schema = importlib.import_module(f"{package}.config").SCHEMA
        settings = make_settings(package, None, database_url=postgres.service_url(schema, dbname))
        upgrade(package, settings, schema)
        migrated[schema] = schema_of(database_url(settings, schema), schema)
    return migrated


@pytest.fixture(scope="module")
def fresh() -> Iterator[str]:
    with fresh_database("salesync_migrations") as database:
        yield database.name


def test_a_fresh_upgrade_creates_the_recorded_tables(fresh: str) -> None:
    recorded = json.loads(SNAPSHOT.read_text())
    migrated = json.loads(json.dumps(migrate_fresh(fresh), default=str))
    for schema in recorded:
        assert migrated[schema] == recorded[schema], f"schema {schema} differs from the snapshot"
    assert set(migrated) == set(recorded)


def test_no_revision_imports_live_code() -> None:
    """A revision that imports the services' code would change when that code changes."""
    root = Path(__file__).resolve().parents[2]
    offenders = [
        f"{path.relative_to(root)}: {line.strip()}"
        for path in sorted(root.glob("*/migrations/versions/*.py"))
        for line in path.read_text().splitlines()
        if line.startswith(("import ", "from "))
        and ("salesync_common" in line or "_service" in line or line.startswith("from ."))
    ]
    assert offenders == []


if __name__ == "__main__":  # rewrite the snapshot after adding a migration (review the diff)
    with fresh_database("salesync_migrations") as database:
        snapshot = migrate_fresh(database.name)
    SNAPSHOT.write_text(json.dumps(snapshot, indent=1, sort_keys=True, default=str) + "\n")
    sys.exit(0)
