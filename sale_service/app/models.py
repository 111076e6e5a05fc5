"""Sales: one row per payment attempt of an order; at most one live (not aborted) per order.

Lifecycle: ``pending`` (committed *before* the order service is asked to mark the order paid, so a
crash after that call always leaves a trace) → ``completed`` (the order is paid by this sale) or
``aborted`` (the order was not paid by it). A refund sets ``refunded_at`` on a completed sale; the
row stays. ``lease_until`` marks a pending sale as being worked on by a request (or the recovery
pass): others leave it alone until the lease expires, so a crashed request is finished by a retry
or the recovery pass, never by two workers at once.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import BigInteger, Date, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from salesync_common.db import make_db
from salesync_common.tables import BigId, idempotency_table

db = make_db()
IdempotencyKeys = idempotency_table(db.metadata)

PENDING, COMPLETED, ABORTED = "pending", "completed", "aborted"
PAYMENT_TYPES = ("card", "cash", "other")

_LIVE = sa.text("status <> 'aborted'")
_COMPLETED = sa.text("status = 'completed'")
_PENDING = sa.text("status = 'pending'")


class Sale(db.Model):  # type: ignore[name-defined]
    __tablename__ = "sales"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    store_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    order_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    table_no: Mapped[int] = mapped_column(Integer, nullable=False)
    total_price: Mapped[int] = mapped_column(BigInteger, nullable=False)
    payment_type: Mapped[str] = mapped_column(String(8), nullable=False)
    payment_label: Mapped[str] = mapped_column(String(50), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING)
    # Provisional (request's day) while pending; the order's paid_business_date once completed.
    business_date: Mapped[date] = mapped_column(Date, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the last pay call for this sale started (an abort waits until none can still land).
    pay_attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    aborted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'completed', 'aborted')", name="status"),
        sa.CheckConstraint("payment_type IN ('card', 'cash', 'other')", name="payment_type"),
        sa.CheckConstraint("total_price >= 0", name="total_price"),
        sa.CheckConstraint("refunded_at IS NULL OR status = 'completed'", name="refund_completed"),
        # Exactly once: one live sale per order, decided by the database.
        sa.Index(
            "uq_sales_live_order",
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
        # Retry of a table's payment and the recovery pass: pending sales only (a tiny set).
        sa.Index(
            "ix_sales_pending",
            "store_id",
            "table_no",
            postgresql_where=_PENDING,
            sqlite_where=_PENDING,
        ),
        sa.Index(
            "ix_sales_pending_created",
            "created_at",
            postgresql_where=_PENDING,
            sqlite_where=_PENDING,
        ),
    )
