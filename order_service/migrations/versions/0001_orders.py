"""Orders, order lines and idempotency keys.

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
IS_OPEN = sa.text("status = 'open'")
IS_PAID = sa.text("status = 'paid'")


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("table_no", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True)),
        sa.Column("paid_at", sa.DateTime(timezone=True)),
        sa.Column("paid_business_date", sa.Date()),
        sa.Column("paid_sale_id", sa.BigInteger()),
        sa.Column("total_price", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.UniqueConstraint("paid_sale_id", name="uq_orders_paid_sale_id"),
        sa.CheckConstraint(
            "status IN ('open', 'paid', 'cancelled')", name="ck_orders_status_known"
        ),
    )
    op.create_index(
        "ux_orders_store_id_table_no_open",
        "orders",
        ["store_id", "table_no"],
        unique=True,
        postgresql_where=IS_OPEN,
        sqlite_where=IS_OPEN,
    )
    op.create_index(
        "ix_orders_store_id_paid_business_date",
        "orders",
        ["store_id", "paid_business_date"],
        postgresql_where=IS_PAID,
        sqlite_where=IS_PAID,
    )
    op.create_index("ix_orders_store_id_business_date", "orders", ["store_id", "business_date"])
    op.create_table(
        "order_lines",
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("item_name", sa.String(100), nullable=False),
        sa.Column("unit_price", sa.Integer(), nullable=False),
        sa.Column("unit_cost", sa.Integer()),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", "item_id", name="pk_order_lines"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_order_lines_order_id_orders"),
        sa.CheckConstraint("quantity BETWEEN 1 AND 999", name="ck_order_lines_quantity_range"),
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
    op.drop_table("order_lines")
    op.drop_table("orders")
