"""Daily item totals of paid orders (kept at payment; reports read them instead of every line).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from order_service.app import rollup

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daily_item_sales",
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("item_name", sa.String(100), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("sales_volume", sa.BigInteger(), nullable=False),
        sa.Column("cost_total", sa.BigInteger(), nullable=False),
        sa.Column("uncosted_quantity", sa.BigInteger(), nullable=False),
        sa.Column("uncosted_first_paid_at", sa.DateTime(timezone=True)),
        sa.Column("last_paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "business_date", "item_id", name="pk_daily_item_sales"),
    )
    rollup.rebuild(op.get_bind())  # orders paid before this table existed


def downgrade() -> None:
    op.drop_table("daily_item_sales")
