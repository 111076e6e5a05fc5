"""Menu tables: categories, items and the unit-cost history.

Rows are never deleted: ``retired_at`` marks a deleted category or item, so order and cost history
keep pointing at real rows. Names are unique among *live* rows only, by partial unique indexes.
``items.cost`` is the current cost, written in the same transaction as the newest ``item_costs``
entry, so listings read it without touching the history. Every change of an item bumps its
``version`` and writes its snapshot to the outbox in the same transaction (``events.py``).
Option groups and their options belong to one item and are retired, never deleted, like items.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from salesync_common.db import make_db
from salesync_common.tables import BigId, idempotency_table, outbox_table

db = make_db()
IdempotencyKeys = idempotency_table(db.metadata)
Outbox = outbox_table(db.metadata)  # menu.items events, relayed to Kafka (see events.py)

LIVE = sa.text("retired_at IS NULL")
CATEGORY_NAME_INDEX = "ux_categories_store_id_name_live"
ITEM_NAME_INDEX = "ux_items_category_id_name_live"
TAX_KINDS = ("vat", "exempt")


class Category(db.Model):  # type: ignore[name-defined]
    __tablename__ = "categories"
    __table_args__ = (
        Index(
            CATEGORY_NAME_INDEX,
            "store_id",
            "name",
            unique=True,
            postgresql_where=LIVE,
            sqlite_where=LIVE,
        ),
        Index("ix_categories_store_id_id", "store_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    store_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Item(db.Model):  # type: ignore[name-defined]
    __tablename__ = "items"
    __table_args__ = (
        Index(
            ITEM_NAME_INDEX,
            "category_id",
            "name",
            unique=True,
            postgresql_where=LIVE,
            sqlite_where=LIVE,
        ),
        Index("ix_items_store_id_id", "store_id", "id"),
        Index("ix_items_category_id", "category_id"),
        sa.CheckConstraint("price >= 0", name="price_non_negative"),
        sa.CheckConstraint("cost IS NULL OR cost >= 0", name="cost_non_negative"),
        sa.CheckConstraint("tax IN ('vat', 'exempt')", name="tax_kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    store_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    category_id: Mapped[int] = mapped_column(BigId, ForeignKey("categories.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    price: Mapped[int] = mapped_column(Integer(), nullable=False)
    description: Mapped[str | None] = mapped_column(String(500))
    cost: Mapped[int | None] = mapped_column(Integer())
    # "vat" (VAT included in the price) or "exempt" (면세)
    tax: Mapped[str] = mapped_column(String(8), nullable=False, default="vat", server_default="vat")
    sold_out: Mapped[bool] = mapped_column(
        Boolean(), nullable=False, default=False, server_default=sa.false()
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Bumped by every change (events.item_changed), carried by each menu.items event.
    version: Mapped[int] = mapped_column(Integer(), nullable=False, default=0)


class ItemCost(db.Model):  # type: ignore[name-defined]
    """One entry per cost change; ``cost`` NULL means "no cost recorded" from then on."""

    __tablename__ = "item_costs"
    __table_args__ = (Index("ix_item_costs_item_id_effective_from", "item_id", "effective_from"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("items.id"), nullable=False)
    cost: Mapped[int | None] = mapped_column(Integer())
    effective_from: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class OptionGroup(db.Model):  # type: ignore[name-defined]
    """A choice on an item (사이즈, 샷 추가): pick ``min_select`` to ``max_select`` options.

    Invariant (checked by the request schema, backed by the checks below):
    0 <= min_select <= max_select, 1 <= max_select <= number of its live options.
    Changes happen under the item's row lock (every change bumps the item's version).
    """

    __tablename__ = "option_groups"
    __table_args__ = (
        Index("ix_option_groups_item_id", "item_id"),
        sa.CheckConstraint("min_select >= 0", name="min_select_non_negative"),
        sa.CheckConstraint(
            "max_select >= 1 AND max_select >= min_select", name="max_select_bounds"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    store_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("items.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    min_select: Mapped[int] = mapped_column(Integer(), nullable=False)
    max_select: Mapped[int] = mapped_column(Integer(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Option(db.Model):  # type: ignore[name-defined]
    """One choice of a group; ``price_delta`` is integer won added to the item's price (may be < 0).

    Names are unique among a group's live options: the whole list is replaced at once under the
    item's row lock and checked by the request schema, so no partial index is needed (one would
    even refuse two options swapping names within one replacement).
    """

    __tablename__ = "options"
    __table_args__ = (
        Index("ix_options_group_id", "group_id"),
        sa.CheckConstraint(
            "price_delta BETWEEN -100000000 AND 100000000", name="price_delta_bounds"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    store_id: Mapped[int] = mapped_column(BigInteger(), nullable=False)
    group_id: Mapped[int] = mapped_column(BigId, ForeignKey("option_groups.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    price_delta: Mapped[int] = mapped_column(Integer(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
