"""Dashboard tables: settlements sent per store and day, and consulting results from Kafka."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from salesync_common.db import make_db

db = make_db()
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Settlement(db.Model):  # type: ignore[name-defined]
    """The last settlement text sent for a store's business day (one row per store and day)."""

    __tablename__ = "settlements"
    __table_args__ = (UniqueConstraint("store_id", "business_date"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    store_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    business_date: Mapped[date] = mapped_column(Date(), nullable=False)
    sales_volume: Mapped[int | None] = mapped_column(BigInteger())
    payments: Mapped[int | None] = mapped_column(Integer())
    # the text sent: one text per distinct figures (null: sent before texts were kept)
    text: Mapped[str | None] = mapped_column(Text())
    message_id: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ConsultingResult(db.Model):  # type: ignore[name-defined]
    """Advice delivered by the consulting service over Kafka, stored once per ``req_id``."""

    __tablename__ = "consulting_results"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    req_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    store_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    advice: Mapped[str | None] = mapped_column(Text())
    model: Mapped[str | None] = mapped_column(String(100))
    event_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
