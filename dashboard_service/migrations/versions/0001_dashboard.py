"""Settlements and consulting results.

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


def upgrade() -> None:
    op.create_table(
        "settlements",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("sales_volume", sa.BigInteger()),
        sa.Column("payments", sa.Integer()),
        sa.Column("message_id", sa.String(200)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_settlements"),
        # Also the index of the only query path (store, day).
        sa.UniqueConstraint(
            "store_id", "business_date", name="uq_settlements_store_id_business_date"
        ),
    )
    op.create_table(
        "consulting_results",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("req_id", sa.String(64), nullable=False),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("advice", sa.Text()),
        sa.Column("model", sa.String(100)),
        sa.Column("event_id", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_consulting_results"),
        # Idempotent consumer: duplicates of a req_id are ignored by this constraint.
        sa.UniqueConstraint("req_id", name="uq_consulting_results_req_id"),
    )


def downgrade() -> None:
    op.drop_table("consulting_results")
    op.drop_table("settlements")
