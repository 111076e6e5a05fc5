"""Stores (accounts): one account is one store; its staff sign in with PINs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    func,
    text,
)
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
    # 사업자등록번호 (###-##-#####), printed on receipts; optional
    business_number: Mapped[str | None] = mapped_column(String(12))
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


LIVE_PIN_INDEX = "ux_staff_live_pin"


class Staff(db.Model):  # type: ignore[name-defined]
    """A staff member of a store (manager or cashier) who opens sessions with a PIN.

    ``pin_hash`` (argon2id) verifies a PIN; ``pin_tag`` (a keyed HMAC of store and PIN) finds it
    and makes it unique among the store's live staff (see ``services.pin_tag``). Deleting keeps
    the row (``deleted_at``) so names stay resolvable on past orders; its PIN becomes free.
    """

    __tablename__ = "staff"
    __table_args__ = (
        CheckConstraint("role IN ('manager', 'cashier')", name="role"),
        Index(
            LIVE_PIN_INDEX,
            "store_id",
            "pin_tag",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
            sqlite_where=text("deleted_at IS NULL"),
        ),
        Index("ix_staff_store_id", "store_id", "staff_id"),
    )

    staff_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    store_id: Mapped[int] = mapped_column(
        BigInteger(), ForeignKey("stores.store_id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    pin_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    pin_tag: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def public(self) -> dict[str, object]:
        return {"staff_id": self.staff_id, "name": self.name, "role": self.role}


class PinGuard(db.Model):  # type: ignore[name-defined]
    """Wrong PINs in a row per store, and the lockout they trigger.

    A security rule, not a rate limit: PIN attempts of a store lock this row for their whole
    check, so concurrent guesses are counted one by one and never exceed the allowed number.
    """

    __tablename__ = "pin_guards"

    store_id: Mapped[int] = mapped_column(
        BigInteger(), ForeignKey("stores.store_id", ondelete="CASCADE"), primary_key=True
    )
    failed_attempts: Mapped[int] = mapped_column(Integer(), nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
