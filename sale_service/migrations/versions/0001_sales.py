"""Sales (one live sale per order) and idempotency keys.

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
LIVE = sa.text("status <> 'aborted'")
COMPLETED = sa.text("status = 'completed'")
PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_table(
        "sales",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("table_no", sa.Integer(), nullable=False),
        sa.Column("total_price", sa.BigInteger(), nullable=False),
        sa.Column("payment_type", sa.String(8), nullable=False),
        sa.Column("payment_label", sa.String(50), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("pay_attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True)),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("aborted_at", sa.DateTime(timezone=True)),
        sa.Column("refunded_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_sales"),
        sa.CheckConstraint("status IN ('pending', 'completed', 'aborted')", name="ck_sales_status"),
        sa.CheckConstraint(
            "payment_type IN ('card', 'cash', 'other')", name="ck_sales_payment_type"
        ),
        sa.CheckConstraint("total_price >= 0", name="ck_sales_total_price"),
        sa.CheckConstraint(
            "refunded_at IS NULL OR status = 'completed'", name="ck_sales_refund_completed"
        ),
    )
    op.create_index(
        "uq_sales_live_order",
        "sales",
        ["order_id"],
        unique=True,
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )
    op.create_index(
        "ix_sales_store_day",
        "sales",
        ["store_id", "business_date"],
        postgresql_where=COMPLETED,
        sqlite_where=COMPLETED,
    )
    op.create_index(
        "ix_sales_store_paid",
        "sales",
        ["store_id", "paid_at", "id"],
        postgresql_where=COMPLETED,
        sqlite_where=COMPLETED,
    )
    op.create_index(
        "ix_sales_pending",
        "sales",
        ["store_id", "table_no"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index(
        "ix_sales_pending_created",
        "sales",
        ["created_at"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    # Frozen here (not imported from salesync_common.tables): this revision must keep creating
    # what it created when it was written.
    op.create_table(
        "idempotency_keys",
        sa.Column("store_id", sa.BigInteger(), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("response_status", sa.Integer()),
        sa.Column("response_body", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("sales")
