"""Summary report rollup: orders by day, hour and settling staff; lines by day and category.

- ``orders.paid_hour``: the hour of ``paid_at`` on the store's clock, set with
  ``paid_business_date``. Orders paid before this revision get it in Asia/Seoul (the default time
  zone; the store's own zone was not recorded).
- ``daily_order_sales`` (store, day, hour, staff_key): order count, gross, discount, taxable,
  exempt, VAT of the paid orders; ``staff_key`` = who took the settling payment (0 = the owner).
- ``daily_category_sales`` (store, day, category_key): quantity, gross, net of the paid lines
  (``category_key`` 0 = no category snapshot).

Existing paid orders are rolled up here with the rules of this revision, frozen (not
``daily_sales.rebuild``, which may learn more later): each order's VAT is
``round_half_up(taxable / 11)`` in integers, as ``pricing.vat_of`` computes it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-20
"""

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BACKFILL_TZ = ZoneInfo("Asia/Seoul")
COUNTERS = ("order_count", "gross", "discount", "taxable_total", "exempt_total", "vat")


def upgrade() -> None:
    op.add_column("orders", sa.Column("paid_hour", sa.SmallInteger()))
    op.create_table(
        "daily_order_sales",
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("hour", sa.SmallInteger(), nullable=False),
        sa.Column("staff_key", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in COUNTERS),
        sa.PrimaryKeyConstraint(
            "store_id", "business_date", "hour", "staff_key", name="pk_daily_order_sales"
        ),
    )
    op.create_table(
        "daily_category_sales",
        sa.Column("store_id", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("category_key", sa.BigInteger(), nullable=False),
        sa.Column("category_name", sa.String(100)),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("gross", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "store_id", "business_date", "category_key", name="pk_daily_category_sales"
        ),
    )
    _backfill(op.get_bind())


def downgrade() -> None:
    op.drop_table("daily_category_sales")
    op.drop_table("daily_order_sales")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("paid_hour")


def _hour(paid_at: Any) -> int:
    moment = datetime.fromisoformat(paid_at) if isinstance(paid_at, str) else paid_at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BACKFILL_TZ).hour


def _backfill(bind: sa.engine.Connection) -> None:
    orders = bind.execute(
        sa.text(
            """
            SELECT o.id, o.store_id, o.paid_business_date, o.paid_at,
                   (SELECT p.staff_id FROM order_payments p
                    WHERE p.order_id = o.id AND p.status = 'paid' LIMIT 1),
                   sum(l.unit_price * l.quantity), sum(l.discount),
                   sum(CASE WHEN l.tax = 'vat' THEN l.unit_price * l.quantity - l.discount
                       ELSE 0 END),
                   sum(CASE WHEN l.tax = 'vat' THEN 0
                       ELSE l.unit_price * l.quantity - l.discount END)
            FROM orders o JOIN order_lines l ON l.order_id = o.id
            WHERE o.status = 'paid'
            GROUP BY o.id, o.store_id, o.paid_business_date, o.paid_at
            """
        )
    ).all()
    summary: dict[tuple[Any, ...], dict[str, Any]] = {}
    hours: list[dict[str, Any]] = []
    for order_id, store_id, day, paid_at, staff_id, gross, discount, taxable, exempt in orders:
        hour = _hour(paid_at)
        hours.append({"order_id": order_id, "hour": hour})
        key = (store_id, day, hour, 0 if staff_id is None else staff_id)
        row = summary.setdefault(
            key,
            dict(zip(("store_id", "business_date", "hour", "staff_key"), key, strict=True))
            | dict.fromkeys(COUNTERS, 0),
        )
        row["order_count"] += 1
        row["gross"] += int(gross)
        row["discount"] += int(discount)
        row["taxable_total"] += int(taxable)
        row["exempt_total"] += int(exempt)
        row["vat"] += (2 * int(taxable) + 11) // 22  # round_half_up(taxable / 11), taxable >= 0
    if hours:
        bind.execute(sa.text("UPDATE orders SET paid_hour = :hour WHERE id = :order_id"), hours)
    if summary:
        columns = ("store_id", "business_date", "hour", "staff_key", *COUNTERS)
        bind.execute(
            sa.text(
                f"INSERT INTO daily_order_sales ({', '.join(columns)}) "  # noqa: S608 - constant
                f"VALUES ({', '.join(':' + name for name in columns)})"
            ),
            list(summary.values()),
        )
    # per (store, day, category); a name that changed within one day keeps the greatest one
    bind.execute(
        sa.text(
            """
            INSERT INTO daily_category_sales (store_id, business_date, category_key,
                category_name, quantity, gross, net)
            SELECT o.store_id, o.paid_business_date, coalesce(l.category_id, 0),
                   max(l.category_name), sum(l.quantity), sum(l.unit_price * l.quantity),
                   sum(l.unit_price * l.quantity - l.discount)
            FROM orders o JOIN order_lines l ON l.order_id = o.id
            WHERE o.status = 'paid'
            GROUP BY o.store_id, o.paid_business_date, coalesce(l.category_id, 0)
            """
        )
    )
