"""Consulting requests (one per store, period and figures) and the transactional outbox."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import BigInteger, Date, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from salesync_common.db import make_db
from salesync_common.tables import outbox_table

db = make_db()
Outbox = outbox_table(db.metadata)
BigId = BigInteger().with_variant(Integer(), "sqlite")
_LIVE = sa.text("status <> 'failed'")
_PENDING = sa.text("status = 'pending'")


class ConsultingRequest(db.Model):  # type: ignore[name-defined]
    __tablename__ = "consulting_requests"
    __table_args__ = (
        # The same store, period and figures share one request while it is pending or done
        # (a failed one may be asked again): decided by the database, not a pre-check.
        sa.Index(
            "uq_consulting_requests_live",
            "store_id",
            "start_date",
            "end_date",
            "figures_hash",
            unique=True,
            postgresql_where=_LIVE,
            sqlite_where=_LIVE,
        ),
        sa.Index(
            "ix_consulting_requests_pending",
            "created_at",
            postgresql_where=_PENDING,
            sqlite_where=_PENDING,
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    req_id: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    store_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    start_date: Mapped[date] = mapped_column(Date(), nullable=False)
    end_date: Mapped[date] = mapped_column(Date(), nullable=False)
    figures: Mapped[str] = mapped_column(Text(), nullable=False)
    figures_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    advice: Mapped[str | None] = mapped_column(Text())
    model: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer(), nullable=False, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
