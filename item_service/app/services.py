"""Menu use-cases: plain functions over a session, testable without HTTP.

Every lookup is scoped by ``store_id``: another store's id is indistinguishable from an unknown one
(404). Name clashes are decided by the partial unique indexes, never by a pre-check. Every change
of an item goes through ``menu_events.item_changed`` in its own transaction (version + event).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from salesync_common.db import violates_unique
from salesync_common.errors import Conflict, NotFound
from salesync_common.timeutil import utcnow

from .menu_events import item_changed
from .models import CATEGORY_NAME_INDEX, ITEM_NAME_INDEX, Category, Item, ItemCost
from .schemas import CostIn, ItemCreateIn, ItemUpdateIn

CATEGORY_EXISTS = "존재하는 카테고리"
ITEM_EXISTS = "존재하는 품목"


def _commit_or_conflict(
    session: Session, index: str, columns: str, message: str, code: str, *, flush: bool = False
) -> None:
    """Commit (or only flush) and turn a clash on ``index`` into 409 ``code``."""
    try:
        session.flush() if flush else session.commit()
    except IntegrityError as exc:
        session.rollback()
        if violates_unique(exc, index, columns):
            raise Conflict(message, code=code) from exc
        raise


# ---- categories


def live_category(session: Session, store_id: int, category_id: int) -> Category:
    category = session.scalar(
        select(Category).where(
            Category.id == category_id, Category.store_id == store_id, Category.retired_at.is_(None)
        )
    )
    if category is None:
        raise NotFound("존재하지 않는 카테고리", code="category_not_found")
    return category


def list_categories(session: Session, store_id: int) -> list[Category]:
    return list(
        session.scalars(
            select(Category)
            .where(Category.store_id == store_id, Category.retired_at.is_(None))
            .order_by(Category.id)
        )
    )


def create_category(session: Session, store_id: int, name: str) -> Category:
    category = Category(store_id=store_id, name=name)
    session.add(category)
    _commit_or_conflict(
        session, CATEGORY_NAME_INDEX, "categories.name", CATEGORY_EXISTS, "category_exists"
    )
    return category


def rename_category(session: Session, store_id: int, category_id: int, name: str) -> Category:
    category = live_category(session, store_id, category_id)
    if category.name == name:  # renaming to its own name is a no-op success
        return category
    category.name = name
    _commit_or_conflict(
        session, CATEGORY_NAME_INDEX, "categories.name", CATEGORY_EXISTS, "category_exists"
    )
    return category


def retire_category(session: Session, store_id: int, category_id: int) -> None:
    """Retire the category and its live items (orders keep their snapshots)."""
    category = live_category(session, store_id, category_id)
    now = utcnow()
    category.retired_at = now
    items = session.scalars(
        select(Item)
        .where(Item.category_id == category.id, Item.retired_at.is_(None))
        .order_by(Item.id)
        .with_for_update()
    )
    for item in items:
        item.retired_at = now
        item_changed(session, item)
    session.commit()


def menu(session: Session, store_id: int) -> list[dict[str, Any]]:
    """Live categories ascending with their live items ascending, empty ones included: one query."""
    rows = session.execute(
        select(Category.id, Category.name, Item.id, Item.name, Item.price, Item.cost)
        .outerjoin(Item, and_(Item.category_id == Category.id, Item.retired_at.is_(None)))
        .where(Category.store_id == store_id, Category.retired_at.is_(None))
        .order_by(Category.id, Item.id)
    ).all()
    grouped: dict[int, dict[str, Any]] = {}
    for category_id, category_name, item_id, item_name, price, cost in rows:
        entry = grouped.setdefault(
            category_id, {"category_id": category_id, "category_name": category_name, "items": []}
        )
        if item_id is not None:
            entry["items"].append(
                {"item_id": item_id, "name": item_name, "price": price, "cost": cost}
            )
    return list(grouped.values())


# ---- items


def live_item(session: Session, store_id: int, item_id: int, *, lock: bool = False) -> Item:
    query = select(Item).where(
        Item.id == item_id, Item.store_id == store_id, Item.retired_at.is_(None)
    )
    item = session.scalar(query.with_for_update() if lock else query)
    if item is None:
        raise NotFound("존재하지 않는 품목", code="item_not_found")
    return item


def _record_cost(session: Session, item: Item, cost: int | None, now: datetime) -> bool:
    """Open a new cost-history entry if the cost changes; setting the same cost adds nothing."""
    if item.cost == cost:
        return False
    item.cost = cost
    session.add(ItemCost(item_id=item.id, cost=cost, effective_from=now))
    return True


def create_item(session: Session, store_id: int, category_id: int, data: ItemCreateIn) -> Item:
    category = live_category(session, store_id, category_id)
    item = Item(
        store_id=store_id,
        category_id=category.id,
        name=data.name,
        price=data.price,
        description=data.description or None,
    )
    session.add(item)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        if violates_unique(exc, ITEM_NAME_INDEX, "items.name"):
            raise Conflict(ITEM_EXISTS, code="item_exists") from exc
        raise
    if data.cost is not None:
        _record_cost(session, item, data.cost, utcnow())
    item_changed(session, item)
    _commit_or_conflict(session, ITEM_NAME_INDEX, "items.name", ITEM_EXISTS, "item_exists")
    return item


def update_item(session: Session, store_id: int, item_id: int, data: ItemUpdateIn) -> Item:
    item = live_item(session, store_id, item_id, lock=True)
    if data.category_id is not None and data.category_id != item.category_id:
        item.category_id = live_category(session, store_id, data.category_id).id
    item.name = data.name
    item.price = data.price  # future orders only: order lines keep their own snapshot
    if "description" in data.model_fields_set:
        item.description = data.description or None
    if "cost" in data.model_fields_set:
        _record_cost(session, item, data.cost, utcnow())
    _commit_or_conflict(
        session, ITEM_NAME_INDEX, "items.name", ITEM_EXISTS, "item_exists", flush=True
    )
    item_changed(session, item)
    _commit_or_conflict(session, ITEM_NAME_INDEX, "items.name", ITEM_EXISTS, "item_exists")
    return item


def retire_item(session: Session, store_id: int, item_id: int) -> None:
    item = live_item(session, store_id, item_id, lock=True)
    item.retired_at = utcnow()
    item_changed(session, item)
    session.commit()


def live_items(session: Session, store_id: int, item_ids: Iterable[int]) -> list[Item]:
    """Live items of the store among ``item_ids`` (missing ones are simply absent): one query."""
    ids = list(item_ids)
    if not ids:
        return []
    return list(
        session.scalars(
            select(Item)
            .where(Item.id.in_(ids), Item.store_id == store_id, Item.retired_at.is_(None))
            .order_by(Item.id)
        )
    )


# ---- costs


def set_costs(session: Session, store_id: int, entries: list[CostIn]) -> list[Item]:
    """All or nothing: every id must be a live item of the store; ``cost: null`` = unchanged."""
    wanted: dict[int, int | None] = {}
    for entry in entries:
        wanted[entry.item_id] = entry.cost
    items = {
        item.id: item
        for item in session.scalars(
            select(Item)
            .where(Item.id.in_(wanted), Item.store_id == store_id, Item.retired_at.is_(None))
            .order_by(Item.id)
            .with_for_update()
        )
    }
    missing = [item_id for item_id in wanted if item_id not in items]
    if missing:
        session.rollback()
        raise NotFound(
            "존재하지 않는 품목",
            code="item_not_found",
            fields={"items": "unknown item ids: " + ",".join(map(str, missing))},
        )
    now = utcnow()
    for item_id, cost in wanted.items():
        if cost is not None and _record_cost(session, items[item_id], cost, now):
            item_changed(session, items[item_id])
    session.commit()
    return [items[item_id] for item_id in wanted]


def clear_cost(session: Session, store_id: int, item_id: int) -> Item:
    item = live_item(session, store_id, item_id, lock=True)
    if _record_cost(session, item, None, utcnow()):
        item_changed(session, item)
    session.commit()
    return item


def cost_history(session: Session, store_id: int, item_ids: list[int]) -> dict[int, list[ItemCost]]:
    """Every cost entry of the store's items among ``item_ids`` (retired ones too), ascending."""
    history: dict[int, list[ItemCost]] = {}
    rows = session.execute(
        select(Item.id, ItemCost)
        .outerjoin(ItemCost, ItemCost.item_id == Item.id)
        .where(Item.id.in_(item_ids), Item.store_id == store_id)
        .order_by(Item.id, ItemCost.effective_from, ItemCost.id)
    ).all()
    for item_id, entry in rows:
        entries = history.setdefault(item_id, [])
        if entry is not None:
            entries.append(entry)
    return history


def costs_at(
    session: Session, store_id: int, item_ids: list[int], moment: datetime
) -> dict[int, int | None]:
    """The cost in effect at ``moment`` for each item (None when none was recorded by then)."""
    result: dict[int, int | None] = {}
    for item_id, entries in cost_history(session, store_id, item_ids).items():
        result[item_id] = None
        for entry in entries:
            effective = entry.effective_from
            if effective.tzinfo is None:  # SQLite drops offsets: stored values are UTC
                effective = effective.replace(tzinfo=UTC)
            if effective <= moment:
                result[item_id] = entry.cost
    return result
