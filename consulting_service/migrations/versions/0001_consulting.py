"""Consulting requests and the outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LIVE = sa.text("status <> 'failed'")
PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_table(
        "consulting_requests",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("req_id", sa.String(32), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.Column("figures_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("advice", sa.Text()),
        sa.Column("model", sa.String(100)),
        sa.Column("error", sa.String(500)),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_consulting_requests"),
        sa.UniqueConstraint("req_id", name="uq_consulting_requests_req_id"),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')", name="ck_consulting_requests_status"
        ),
    )
    op.create_index(
        "uq_consulting_requests_live",
        "consulting_requests",
        ["store_id", "start_date", "end_date", "figures_hash"],
        unique=True,
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )
    op.create_index(
        "ix_consulting_requests_pending",
        "consulting_requests",
        ["created_at"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    # Frozen here (not imported from salesync_common.tables): this revision must keep creating
    # what it created when it was written.
    op.create_table(
        "outbox_events",
        # SQLite autoincrements INTEGER keys only
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("headers", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text()),
    )
    op.create_index(
        "ix_outbox_events_unpublished",
        "outbox_events",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("outbox_events")
    op.drop_table("consulting_requests")
