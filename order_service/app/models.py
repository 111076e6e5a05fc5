"""Orders and their lines.

A table has at most one ``open`` order: a partial unique index on (store_id, table_no) decides it,
so two terminals can never open two. Orders are never deleted (``cancelled`` and ``paid`` stay for
the audit trail and the reports). Lines keep the item's name, unit price and unit cost as they were
when written; ``total_price`` is recomputed from them in the same transaction as every change.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from salesync_common.db import make_db
from salesync_common.tables import BigId, idempotency_table

db = make_db()
IdempotencyKeys = idempotency_table(db.metadata)

OPEN = "open"
PAID = "paid"
CANCELLED = "cancelled"
IS_OPEN = sa.text("status = 'open'")
IS_PAID = sa.text("status = 'paid'")
OPEN_TABLE_INDEX = "ux_orders_store_id_table_no_open"


class Order(db.Model):  # type: ignore[name-defined]
    __tablename__ = "orders"
    __table_args__ = (
        Index(
            OPEN_TABLE_INDEX,
            "store_id",
            "table_no",
            unique=True,
            postgresql_where=IS_OPEN,
            sqlite_where=IS_OPEN,
        ),
        Index(
            "ix_orders_store_id_paid_business_date",
            "store_id",
            "paid_business_date",
            postgresql_where=IS_PAID,
            sqlite_where=IS_PAID,
        ),
        Index("ix_orders_store_id_business_date", "store_id", "business_date"),
        sa.CheckConstraint("status IN ('open', 'paid', 'cancelled')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    store_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    table_no: Mapped[int] = mapped_column(Integer(), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=OPEN)
    version: Mapped[int] = mapped_column(Integer(), nullable=False, default=1)
    business_date: Mapped[date] = mapped_column(Date(), nullable=False)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_business_date: Mapped[date | None] = mapped_column(Date())
    paid_sale_id: Mapped[int | None] = mapped_column(BigInteger(), unique=True)
    total_price: Mapped[int] = mapped_column(BigInteger(), nullable=False, default=0)


class OrderLine(db.Model):  # type: ignore[name-defined]
    """One line per item per order (duplicates are summed), with the snapshot taken when written."""

    __tablename__ = "order_lines"
    __table_args__ = (sa.CheckConstraint("quantity BETWEEN 1 AND 999", name="quantity_range"),)

    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id"), primary_key=True)
    item_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    item_name: Mapped[str] = mapped_column(String(100), nullable=False)
    unit_price: Mapped[int] = mapped_column(Integer(), nullable=False)
    unit_cost: Mapped[int | None] = mapped_column(Integer())
    quantity: Mapped[int] = mapped_column(Integer(), nullable=False)


class DailyItemSales(db.Model):  # type: ignore[name-defined]
    """Paid quantities, revenue and cost per (store, business day of payment, item).

    Written in the pay transaction (see ``rollup.py``), so a 365-day report reads at most one
    row per day and item instead of every order line of the year: report latency follows the
    length of the range, not the size of the history.
    """

    __tablename__ = "daily_item_sales"

    store_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    business_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    item_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    item_name: Mapped[str] = mapped_column(String(100), nullable=False)
    quantity: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    sales_volume: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    cost_total: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    uncosted_quantity: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    uncosted_first_paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_paid_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
