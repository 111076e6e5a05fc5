"""Orders, their lines, payments and events, and the read model of the menu.

A table has at most one ``open`` order: a partial unique index on (store_id, table_no) decides it,
so two terminals can never open two. Orders are never deleted (``cancelled`` and ``paid`` stay for
the audit trail and the reports). Lines keep the item's name, unit price and unit cost as they were
when written; ``total_price`` is recomputed from them in the same transaction as every change.
The order owns what was paid: ``order_payments`` is its ledger (one row per ``payment_ref``) and
``paid_total`` their sum, kept in the same transaction; ``balance`` = ``total_price - paid_total``.

``order_events`` is both the audit trail of orders and the outbox of ``orders.events``: one row
per change, written in the change's transaction, numbered per store by ``order_event_counters``.

``menu_items`` / ``menu_sync`` are the read model of the item service's menu (``menu.py``).
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text
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
LINE_KEY_INDEX = "ux_order_lines_order_id_item_id_option_key"


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
    total_price: Mapped[int] = mapped_column(BigInteger(), nullable=False, default=0)
    # Σ order_payments.amount, updated with each payment; paid once it reaches total_price.
    paid_total: Mapped[int] = mapped_column(BigInteger(), nullable=False, default=0)
    staff_id: Mapped[int | None] = mapped_column(BigInteger())  # who opened it; None: the owner
    # hour (0-23) of paid_at in the store's time zone, set with paid_business_date (reports)
    paid_hour: Mapped[int | None] = mapped_column(sa.SmallInteger())
    # set when a table transfer merged this (then cancelled) order into another open order
    merged_into_order_id: Mapped[int | None] = mapped_column(BigInteger())

    @property
    def balance(self) -> int:
        return self.total_price - self.paid_total


class OrderLine(db.Model):  # type: ignore[name-defined]
    """One line per (item, sorted option ids) per order, with the snapshot taken when written.

    ``option_key`` (the sorted option ids joined by commas, ``''`` for none) makes the pair unique
    per order: adding the same item with the same options adds to the line. ``unit_price`` is the
    item's price plus the options' deltas as they were; ``options`` their snapshot (JSON list of
    ``{option_id, group_id, name, price_delta}``). ``discount`` is frozen when the order is paid
    (its own and allocated discounts, from ``pricing``): what the daily totals and a rebuild use.
    """

    __tablename__ = "order_lines"
    __table_args__ = (
        sa.CheckConstraint("quantity BETWEEN 1 AND 999", name="quantity_range"),
        Index(LINE_KEY_INDEX, "order_id", "item_id", "option_key", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id"), nullable=False)
    item_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    option_key: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    item_name: Mapped[str] = mapped_column(String(100), nullable=False)
    unit_price: Mapped[int] = mapped_column(Integer(), nullable=False)
    unit_cost: Mapped[int | None] = mapped_column(Integer())
    quantity: Mapped[int] = mapped_column(Integer(), nullable=False)
    options: Mapped[str] = mapped_column(Text(), nullable=False, server_default="[]")
    category_id: Mapped[int | None] = mapped_column(BigInteger())
    category_name: Mapped[str | None] = mapped_column(String(100))
    tax: Mapped[str] = mapped_column(String(8), nullable=False, server_default="vat")
    discount: Mapped[int] = mapped_column(BigInteger(), nullable=False, server_default="0")


class OrderDiscount(db.Model):  # type: ignore[name-defined]
    """A discount as entered; what it takes off is always recomputed by ``pricing.price_order``.

    ``scope="line"`` names its line (``line_id``, with the line's ``item_id`` for reading); line
    discounts apply in id order to their line, then order discounts in id order to what is left.
    """

    __tablename__ = "order_discounts"
    __table_args__ = (
        Index("ix_order_discounts_order_id", "order_id"),
        sa.CheckConstraint("scope IN ('order', 'line')", name="scope_known"),
        sa.CheckConstraint("kind IN ('percent', 'amount')", name="kind_known"),
        sa.CheckConstraint("value >= 1", name="value_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id"), nullable=False)
    store_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    scope: Mapped[str] = mapped_column(String(8), nullable=False)
    line_id: Mapped[int | None] = mapped_column(BigInteger())
    item_id: Mapped[int | None] = mapped_column(BigInteger())
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    value: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)
    staff_id: Mapped[int | None] = mapped_column(BigInteger())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class DailyItemSales(db.Model):  # type: ignore[name-defined]
    """Paid quantities, revenue and cost per (store, business day of payment, item).

    Written in the pay transaction (see ``daily_sales.py``), so a 365-day report reads at most one
    row per day and item instead of every order line of the year: report latency follows the
    length of the range, not the size of the history.
    """

    __tablename__ = "daily_item_sales"

    store_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    business_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    item_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    item_name: Mapped[str] = mapped_column(String(100), nullable=False)
    quantity: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    # sales_volume = gross - discount: the lines' net after their own and allocated discounts
    sales_volume: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    gross: Mapped[int] = mapped_column(BigInteger(), nullable=False, server_default="0")
    discount: Mapped[int] = mapped_column(BigInteger(), nullable=False, server_default="0")
    cost_total: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    uncosted_quantity: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    uncosted_first_paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_paid_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


OWNER_STAFF_KEY = 0  # the owner (staff_id null) in the summary rollup's key
NO_CATEGORY_KEY = 0  # lines written before categories were snapshotted (v1)


class DailyOrderSales(db.Model):  # type: ignore[name-defined]
    """Paid orders per (store, business day of payment, local hour of payment, settling staff).

    Written in the pay transaction (``daily_sales.record_paid_order``) from the order's ``pricing``
    figures, so the summary of a year reads at most 24 x staff rows a day, never the orders.
    ``staff_key`` is the staff who took the payment that settled the order
    (``OWNER_STAFF_KEY`` = the owner). ``vat`` is the Σ of each order's own VAT (VAT is computed
    once per order), so the rows add up to the orders exactly.
    """

    __tablename__ = "daily_order_sales"

    store_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    business_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    hour: Mapped[int] = mapped_column(sa.SmallInteger(), primary_key=True)
    staff_key: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    order_count: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    gross: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    discount: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    taxable_total: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    exempt_total: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    vat: Mapped[int] = mapped_column(BigInteger(), nullable=False)


class DailyCategorySales(db.Model):  # type: ignore[name-defined]
    """Paid lines per (store, business day of payment, category): quantity, gross and net.

    ``category_key`` is the line's snapshotted category (``NO_CATEGORY_KEY`` for v1 lines);
    ``category_name`` the latest payment's snapshot. ``net`` = gross - the lines' discounts.
    """

    __tablename__ = "daily_category_sales"

    store_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    business_date: Mapped[date] = mapped_column(Date(), primary_key=True)
    category_key: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    category_name: Mapped[str | None] = mapped_column(String(100))
    quantity: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    gross: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    net: Mapped[int] = mapped_column(BigInteger(), nullable=False)


class OrderPayment(db.Model):  # type: ignore[name-defined]
    """One payment recorded against an order, once per ``payment_ref`` (the sale service's id).

    The row keeps the answer given when it was recorded (totals after it), so a replay of the
    same ``payment_ref`` returns exactly that answer.
    """

    __tablename__ = "order_payments"
    __table_args__ = (
        Index("ix_order_payments_order_id", "order_id"),
        sa.CheckConstraint("amount >= 0", name="amount_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    payment_ref: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    store_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id"), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    payment_type: Mapped[str] = mapped_column(String(16), nullable=False)
    staff_id: Mapped[int | None] = mapped_column(BigInteger())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # the order as this payment left it
    total: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    paid_total: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    # the order's pricing figures after this payment (JSON object; None before v2)
    pricing: Mapped[str | None] = mapped_column(Text())


class OrderEventCounter(db.Model):  # type: ignore[name-defined]
    """The last ``order_events.seq`` of a store; its row lock orders the store's event writers."""

    __tablename__ = "order_event_counters"

    store_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger(), nullable=False)


UNPUBLISHED = sa.text("published_at IS NULL")


class OrderEvent(db.Model):  # type: ignore[name-defined]
    """Audit trail of orders and outbox of ``orders.events`` (see ``events.py``)."""

    __tablename__ = "order_events"
    __table_args__ = (
        sa.UniqueConstraint("store_id", "seq", name="uq_order_events_store_id_seq"),
        Index("ix_order_events_order_id_seq", "order_id", "seq"),
        Index(
            "ix_order_events_unpublished",
            "id",
            postgresql_where=UNPUBLISHED,
            sqlite_where=UNPUBLISHED,
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    store_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id"), nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    staff_id: Mapped[int | None] = mapped_column(BigInteger())
    data: Mapped[str] = mapped_column(Text(), nullable=False)  # JSON object: what changed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MenuItem(db.Model):  # type: ignore[name-defined]
    """The newest snapshot seen of an item (menu.items events, or a direct lookup).

    Written only when the incoming ``version`` is higher (``menu.apply_snapshots``), so a
    duplicate or late event never overwrites a newer state.
    """

    __tablename__ = "menu_items"

    store_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    item_id: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    category_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    price: Mapped[int] = mapped_column(Integer(), nullable=False)
    cost: Mapped[int | None] = mapped_column(Integer())
    retired: Mapped[bool] = mapped_column(Boolean(), nullable=False)
    version: Mapped[int] = mapped_column(Integer(), nullable=False)
    changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # v2 (menu.items snapshot fields): "vat" | "exempt"; sold out; the category's name (None
    # until a snapshot carrying it arrives); the live option groups as JSON text, in the
    # snapshot's shape (schemas.MenuOptionGroup), read back by menu.lookup in the same query.
    tax: Mapped[str] = mapped_column(String(8), nullable=False, server_default="vat")
    sold_out: Mapped[bool] = mapped_column(Boolean(), nullable=False, server_default=sa.false())
    category_name: Mapped[str | None] = mapped_column(String(100))
    option_groups: Mapped[str] = mapped_column(Text(), nullable=False, server_default="[]")


class MenuSync(db.Model):  # type: ignore[name-defined]
    """Per partition of ``menu.items``: when its consumer last confirmed it was caught up.

    Shared by every worker and pod through the database; the hot path trusts ``menu_items``
    only while every partition has a recent confirmation (``menu.py``).
    """

    __tablename__ = "menu_sync"

    topic: Mapped[str] = mapped_column(String(200), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer(), primary_key=True)
    partitions: Mapped[int] = mapped_column(Integer(), nullable=False)
    caught_up_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
