"""Daily item totals of paid orders (kept at payment; reports read them instead of every line).

The rows of orders paid before this revision are computed here with the SQL of that time (frozen:
``daily_sales.rebuild`` has since learned columns this revision does not have).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

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
    _rebuild(op.get_bind())  # orders paid before this table existed


_LATEST_NAME = {
    "postgresql": "(array_agg(l.item_name ORDER BY o.paid_at DESC))[1]",
    "sqlite": "max(l.item_name)",
}


def _rebuild(bind: sa.engine.Connection) -> None:
    bind.execute(
        sa.text(
            f"""
            INSERT INTO daily_item_sales (store_id, business_date, item_id, item_name, quantity,
                sales_volume, cost_total, uncosted_quantity, uncosted_first_paid_at, last_paid_at)
            SELECT o.store_id, o.paid_business_date, l.item_id, {_LATEST_NAME[bind.dialect.name]},
                   sum(l.quantity), sum(l.unit_price * l.quantity),
                   sum(CASE WHEN l.unit_cost IS NULL THEN 0 ELSE l.unit_cost * l.quantity END),
                   sum(CASE WHEN l.unit_cost IS NULL THEN l.quantity ELSE 0 END),
                   min(CASE WHEN l.unit_cost IS NULL THEN o.paid_at END), max(o.paid_at)
            FROM orders o JOIN order_lines l ON l.order_id = o.id
            WHERE o.status = 'paid'
            GROUP BY o.store_id, o.paid_business_date, l.item_id
            """  # noqa: S608 - constant SQL
        )
    )


def downgrade() -> None:
    op.drop_table("daily_item_sales")
