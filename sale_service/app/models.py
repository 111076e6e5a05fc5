"""Payments and sales (one sale per paid order), and idempotency keys.

A payment is recorded at the order service first (the order owns its paid total, exactly once per
``payment_ref``); the sale service then writes, in one transaction, its ``payments`` row and,
when that payment settled the order, the ``sales`` row. A crash between the two is repaired by the
consumer of ``orders.events`` (``consumer.py``), which writes the same rows from the order's
``payment``/``paid`` events: inserts keyed by ``payment_ref`` (and one sale per order), so either
writer may come first and the other changes nothing.

When the order is paid the sale gets the order's pricing figures and its receipt number
(``receipt_counters``, one row per store and business day, incremented in the sale's
transaction). Refunds are ``refunds`` rows (with the tenders they go back to in
``refund_tenders``); ``sales.refunded_total`` is their sum and ``refunded_at`` is set once the
whole sale is refunded (the first contract's "refunded"). ``pending``/``aborted`` rows are left
by the previous protocol (a pending one is completed by the consumer if its order was paid).
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from salesync_common.db import make_db
from salesync_common.tables import BigId, idempotency_table

db = make_db()
IdempotencyKeys = idempotency_table(db.metadata)

PENDING, COMPLETED, ABORTED = "pending", "completed", "aborted"
PAYMENT_TYPES = ("card", "cash", "other")
MIXED = "mixed"  # a sale paid with more than one tender

_LIVE = sa.text("status <> 'aborted'")
_COMPLETED = sa.text("status = 'completed'")
LIVE_ORDER_INDEX = "uq_sales_live_order"


class Payment(db.Model):  # type: ignore[name-defined]
    """One payment recorded against an order (the order service's ledger has the same ref)."""

    __tablename__ = "payments"
    __table_args__ = (
        sa.CheckConstraint("payment_type IN ('card', 'cash', 'other')", name="payment_type"),
        sa.CheckConstraint("amount >= 0", name="amount"),
        sa.Index("ix_payments_store_id_created_at", "store_id", "created_at"),
        sa.Index("ix_payments_order_id", "order_id"),
    )

    payment_ref: Mapped[str] = mapped_column(String(36), primary_key=True)
    store_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    order_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    table_no: Mapped[int] = mapped_column(Integer, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    payment_type: Mapped[str] = mapped_column(String(8), nullable=False)
    payment_label: Mapped[str] = mapped_column(String(50), nullable=False)
    staff_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # v2 tender details (null when the consumer wrote the row: the request's details were lost)
    tendered: Mapped[int | None] = mapped_column(BigInteger)  # cash handed over
    change: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # stored in full (the card terminal's reference for a cancellation); shown masked only
    card_approval_no: Mapped[str | None] = mapped_column(String(20))
    card_issuer: Mapped[str | None] = mapped_column(String(50))
    card_installment_months: Mapped[int | None] = mapped_column(Integer)
    # the store's open shift when the payment was written (null: none was open)
    shift_id: Mapped[int | None] = mapped_column(BigInteger, index=True)


class Sale(db.Model):  # type: ignore[name-defined]
    __tablename__ = "sales"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    store_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    order_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    table_no: Mapped[int] = mapped_column(Integer, nullable=False)
    total_price: Mapped[int] = mapped_column(BigInteger, nullable=False)
    payment_type: Mapped[str] = mapped_column(String(8), nullable=False)
    payment_label: Mapped[str] = mapped_column(String(50), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=COMPLETED)
    # the order's paid_business_date (the store's day when it was paid)
    business_date: Mapped[date] = mapped_column(Date, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    aborted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the payment that settled the order
    payment_ref: Mapped[str | None] = mapped_column(String(36), unique=True)
    # the order's pricing figures when it was paid (total_price = taxable_total + exempt_total)
    subtotal: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    discount_total: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    taxable_total: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    exempt_total: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    vat: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # YYYYMMDD-NNNN, per store and business day of payment (null: paid before receipts existed)
    receipt_no: Mapped[str | None] = mapped_column(String(16))
    printed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reprint_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    refunded_total: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)

    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'completed', 'aborted')", name="status"),
        sa.CheckConstraint(
            "payment_type IN ('card', 'cash', 'other', 'mixed')", name="payment_type_v2"
        ),
        sa.CheckConstraint("refunded_total >= 0 AND refunded_total <= total_price", name="refunds"),
        sa.UniqueConstraint("store_id", "receipt_no", name="uq_sales_store_receipt"),
        sa.CheckConstraint("total_price >= 0", name="total_price"),
        sa.CheckConstraint("refunded_at IS NULL OR status = 'completed'", name="refund_completed"),
        # Exactly once: one live sale per order, decided by the database.
        sa.Index(
            LIVE_ORDER_INDEX,
            "order_id",
            unique=True,
            postgresql_where=_LIVE,
            sqlite_where=_LIVE,
        ),
        # Daily totals and the dashboard: completed sales of a store by business day.
        sa.Index(
            "ix_sales_store_day",
            "store_id",
            "business_date",
            postgresql_where=_COMPLETED,
            sqlite_where=_COMPLETED,
        ),
        # GET /sales/: completed sales of a store in time order.
        sa.Index(
            "ix_sales_store_paid",
            "store_id",
            "paid_at",
            "id",
            postgresql_where=_COMPLETED,
            sqlite_where=_COMPLETED,
        ),
    )


class ReceiptCounter(db.Model):  # type: ignore[name-defined]
    """The last receipt number issued per store and business day (locked by the upsert)."""

    __tablename__ = "receipt_counters"

    store_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    last_no: Mapped[int] = mapped_column(Integer, nullable=False)


class Refund(db.Model):  # type: ignore[name-defined]
    """One refund of a sale: its money and tax figures from ``salesync_common.pricing``.

    ``business_date`` is the refunded sale's (a refund counts on the day of the sale it refunds);
    ``lines`` is JSON ``[{line_id, quantity, amount}]`` for a refund by lines, else null.
    """

    __tablename__ = "refunds"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount"),
        sa.Index("ix_refunds_store_day", "store_id", "business_date"),
        sa.Index("ix_refunds_sale_id", "sale_id"),
        sa.Index("ix_refunds_store_order", "store_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    store_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sale_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("sales.id"), nullable=False)
    order_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    business_date: Mapped[date] = mapped_column(Date, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    taxable_total: Mapped[int] = mapped_column(BigInteger, nullable=False)
    exempt_total: Mapped[int] = mapped_column(BigInteger, nullable=False)
    vat: Mapped[int] = mapped_column(BigInteger, nullable=False)
    payment_type: Mapped[str] = mapped_column(String(8), nullable=False)  # a tender or "mixed"
    lines: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)
    staff_id: Mapped[int | None] = mapped_column(BigInteger)
    # the store's open shift when the refund was made (null: none was open)
    shift_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class RefundTender(db.Model):  # type: ignore[name-defined]
    """How much of a refund went back to each tender (sums to the refund's amount)."""

    __tablename__ = "refund_tenders"
    __table_args__ = (
        sa.CheckConstraint("payment_type IN ('card', 'cash', 'other')", name="payment_type"),
        sa.CheckConstraint("amount > 0", name="amount"),
    )

    refund_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("refunds.id"), primary_key=True)
    payment_type: Mapped[str] = mapped_column(String(8), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)


# ---------------------------------------------------------------------------------------------
# Shifts (shifts.py)

OPEN, CLOSED = "open", "closed"
_OPEN = sa.text("status = 'open'")
OPEN_SHIFT_INDEX = "uq_shifts_open_store"


class Shift(db.Model):  # type: ignore[name-defined]
    """A cash drawer shift: opened with a float, closed with the counted cash.

    At most one open shift per store, decided by the partial unique index (two terminals opening
    at once: one insert wins, the other conflicts). ``expected_cash``/``counted_cash``/
    ``difference`` are written at close, in the transaction that closes it.
    """

    __tablename__ = "shifts"
    __table_args__ = (
        sa.CheckConstraint("status IN ('open', 'closed')", name="status"),
        sa.CheckConstraint("opening_float >= 0", name="opening_float"),
        sa.CheckConstraint("(status = 'open') = (closed_at IS NULL)", name="closed_at_when_closed"),
        sa.Index(
            OPEN_SHIFT_INDEX, "store_id", unique=True, postgresql_where=_OPEN, sqlite_where=_OPEN
        ),
        sa.Index("ix_shifts_store_day", "store_id", "business_date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    store_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False, default=OPEN)
    business_date: Mapped[date] = mapped_column(Date, nullable=False)  # of opening, store's tz
    opening_float: Mapped[int] = mapped_column(BigInteger, nullable=False)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    opened_by: Mapped[int | None] = mapped_column(BigInteger)  # staff_id; null: the owner
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by: Mapped[int | None] = mapped_column(BigInteger)
    expected_cash: Mapped[int | None] = mapped_column(BigInteger)
    counted_cash: Mapped[int | None] = mapped_column(BigInteger)
    difference: Mapped[int | None] = mapped_column(BigInteger)  # counted - expected


class CashMovement(db.Model):  # type: ignore[name-defined]
    """Cash put into (``pay_in``) or taken out of (``pay_out``) the drawer during a shift."""

    __tablename__ = "cash_movements"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('pay_in', 'pay_out')", name="kind"),
        sa.CheckConstraint("amount > 0", name="amount"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    shift_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("shifts.id"), nullable=False, index=True
    )
    store_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)
    staff_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ShiftSettings(db.Model):  # type: ignore[name-defined]
    """A store's shift settings (no row: the defaults, ``require_open_shift`` off)."""

    __tablename__ = "shift_settings"

    store_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    require_open_shift: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
