"""Tables every DB-backed service keeps in its own schema: idempotency keys and the outbox.

Each service adds them to its metadata (``idempotency_table(db.metadata)``). Its migrations
create them with their own frozen copy of these columns, never by importing this module: an edit
here must not change what an old revision creates (``tests/integration/test_migrations.py``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import BigInteger, Column, DateTime, Integer, MetaData, String, Table, Text

BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only


def _idempotency_columns() -> list[Any]:
    return [
        Column("store_id", BigInteger(), primary_key=True),
        Column("key", String(200), primary_key=True),
        Column("fingerprint", String(64), nullable=False),
        Column("status", String(16), nullable=False),
        Column("response_status", Integer()),
        Column("response_body", Text()),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("locked_at", DateTime(timezone=True), nullable=False),
    ]


def _outbox_columns() -> list[Any]:
    return [
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("payload", Text(), nullable=False),
        Column("headers", Text()),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True)),
        Column("attempts", Integer(), nullable=False, server_default="0"),
        Column("last_error", Text()),
    ]


_UNPUBLISHED = sa.text("published_at IS NULL")


def idempotency_table(metadata: MetaData) -> Table:
    return Table("idempotency_keys", metadata, *_idempotency_columns())


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox_events",
        metadata,
        *_outbox_columns(),
        sa.Index(
            "ix_outbox_events_unpublished",
            "id",
            postgresql_where=_UNPUBLISHED,
            sqlite_where=_UNPUBLISHED,
        ),
    )
