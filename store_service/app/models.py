"""Stores (accounts): one account is one store."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from salesync_common.db import make_db
from salesync_common.tables import idempotency_table

db = make_db()
IdempotencyKeys = idempotency_table(db.metadata)


class Store(db.Model):  # type: ignore[name-defined]
    __tablename__ = "stores"

    store_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    username: Mapped[str] = mapped_column(String(50), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    owner_name: Mapped[str] = mapped_column(String(100), nullable=False)
    phone: Mapped[str] = mapped_column(String(20), nullable=False)
    store_name: Mapped[str] = mapped_column(String(100), nullable=False)
    address: Mapped[str] = mapped_column(String(200), nullable=False)
    store_type: Mapped[str] = mapped_column(String(50), nullable=False)
    time_zone: Mapped[str] = mapped_column(String(64), nullable=False, default="Asia/Seoul")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )

    def profile(self) -> dict[str, object]:
        return {
            "store_id": self.store_id,
            "username": self.username,
            "owner_name": self.owner_name,
            "phone": self.phone,
            "store_name": self.store_name,
            "address": self.address,
            "store_type": self.store_type,
        }
