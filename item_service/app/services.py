"""Menu use-cases: plain functions over a session, testable without HTTP.

Every lookup is scoped by ``store_id``: another store's id is indistinguishable from an unknown one
(404). Name clashes are decided by the partial unique indexes, never by a pre-check. Every change
of an item goes through ``events.item_changed`` in its own transaction (version + event).
Option groups are changed under their item's row lock, as every change of the item is.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from salesync_common.db import violates_unique
from salesync_common.errors import Conflict, NotFound
from salesync_common.timeutil import aware, utcnow

from .catalog import GROUP_COLUMNS, GROUP_ORDER, fold_option, item_details, join_option_groups
from .events import item_changed, items_changed
from .models import (
    CATEGORY_NAME_INDEX,
    ITEM_NAME_INDEX,
    Category,
    Item,
    ItemCost,
    Option,
    OptionGroup,
)
from .schemas import CostIn, ItemCreateIn, ItemUpdateIn, OptionGroupIn, OptionGroupUpdateIn

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
    """Rename; each live item of the category announces its new ``category_name``."""
    category = live_category(session, store_id, category_id)
    if category.name == name:  # renaming to its own name is a no-op success
        return category
    category.name = name
    _commit_or_conflict(
        session,
        CATEGORY_NAME_INDEX,
        "categories.name",
        CATEGORY_EXISTS,
        "category_exists",
        flush=True,
    )
    items = session.scalars(
        select(Item)
        .where(Item.category_id == category.id, Item.retired_at.is_(None))
        .order_by(Item.id)
        .with_for_update()
    ).all()
    items_changed(session, items)
    session.commit()
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
    locked = list(items)
    for item in locked:
        item.retired_at = now
    items_changed(session, locked)
    session.commit()


def menu(session: Session, store_id: int) -> list[dict[str, Any]]:
    """Live categories ascending with their live items ascending, empty ones included, each item
    with its tax, sold out flag and live option groups: one query, whatever the size."""
    rows = session.execute(
        join_option_groups(
            select(
                Category.id,
                Category.name,
                Item.id,
                Item.name,
                Item.price,
                Item.cost,
                Item.tax,
                Item.sold_out,
                *GROUP_COLUMNS,
            ).outerjoin(Item, and_(Item.category_id == Category.id, Item.retired_at.is_(None)))
        )
        .where(Category.store_id == store_id, Category.retired_at.is_(None))
        .order_by(Category.id, Item.id, *GROUP_ORDER)
    ).all()
    grouped: dict[int, dict[str, Any]] = {}
    for row in rows:
        category_id, category_name, item_id, name, price, cost, tax, sold_out = row[:8]
        entry = grouped.setdefault(
            category_id, {"category_id": category_id, "category_name": category_name, "items": []}
        )
        if item_id is None:
            continue
        items = entry["items"]
        if not items or items[-1]["item_id"] != item_id:
            items.append(
                {
                    "item_id": item_id,
                    "name": name,
                    "price": price,
                    "cost": cost,
                    "tax": tax,
                    "sold_out": sold_out,
                    "option_groups": [],
                }
            )
        fold_option(items[-1]["option_groups"], row)
    return list(grouped.values())


def cost_page(session: Session, store_id: int) -> list[dict[str, Any]]:
    """The first version's menu shape (no tax or options), for the cost page: one query."""
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
        tax=data.tax,
        sold_out=data.sold_out,
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
    if "tax" in data.model_fields_set:
        item.tax = data.tax
    if "sold_out" in data.model_fields_set:
        item.sold_out = data.sold_out
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


def live_items(
    session: Session, store_id: int, item_ids: Iterable[int]
) -> list[tuple[Item, str, list[dict[str, Any]]]]:
    """Live items of the store among ``item_ids`` (missing ones are simply absent), ascending, with
    their category name and option groups: one query."""
    return list(item_details(session, item_ids, store_id=store_id, live=True).values())


# ---- option groups


def _live_group(session: Session, store_id: int, group_id: int) -> OptionGroup:
    """The store's live group of a live item, its item row-locked first (the one lock order)."""
    item_id = session.scalar(
        select(OptionGroup.item_id)
        .join(Item, Item.id == OptionGroup.item_id)
        .where(
            OptionGroup.id == group_id,
            OptionGroup.store_id == store_id,
            OptionGroup.retired_at.is_(None),
            Item.retired_at.is_(None),
        )
    )
    if item_id is not None:
        live_item(session, store_id, item_id, lock=True)  # 404 when the item is retired
        group = session.scalar(
            select(OptionGroup)
            .where(OptionGroup.id == group_id, OptionGroup.retired_at.is_(None))
            .execution_options(populate_existing=True)
        )
        if group is not None:
            return group
    session.rollback()
    raise NotFound("존재하지 않는 옵션 그룹", code="option_group_not_found")


def _live_options(session: Session, group_id: int) -> list[Option]:
    return list(
        session.scalars(
            select(Option)
            .where(Option.group_id == group_id, Option.retired_at.is_(None))
            .order_by(Option.id)
        )
    )


def create_option_group(
    session: Session, store_id: int, item_id: int, data: OptionGroupIn
) -> tuple[OptionGroup, list[Option]]:
    item = live_item(session, store_id, item_id, lock=True)
    group = OptionGroup(
        store_id=store_id,
        item_id=item.id,
        name=data.name,
        min_select=data.min_select,
        max_select=data.max_select,
    )
    session.add(group)
    session.flush()
    options = [
        Option(
            store_id=store_id, group_id=group.id, name=wanted.name, price_delta=wanted.price_delta
        )
        for wanted in data.options
    ]
    session.add_all(options)
    item_changed(session, item)
    session.commit()
    return group, options


def replace_option_group(
    session: Session, store_id: int, group_id: int, data: OptionGroupUpdateIn
) -> tuple[OptionGroup, list[Option]]:
    """Replace name, bounds and options: options named by ``option_id`` keep their id (name and
    delta replaced), the others are new, live options left out are retired. An ``option_id``
    that is not a live option of this group is 404 and nothing is written."""
    group = _live_group(session, store_id, group_id)
    current = {option.id: option for option in _live_options(session, group.id)}
    unknown = [
        option.option_id
        for option in data.options
        if option.option_id is not None and option.option_id not in current
    ]
    if unknown:
        session.rollback()
        raise NotFound(
            "존재하지 않는 옵션",
            code="option_not_found",
            fields={"options": "unknown option ids: " + ",".join(map(str, unknown))},
        )
    now = utcnow()
    kept = {option.option_id for option in data.options if option.option_id is not None}
    for option_id, option in current.items():
        if option_id not in kept:
            option.retired_at = now
    for wanted in data.options:
        if wanted.option_id is None:
            session.add(
                Option(
                    store_id=store_id,
                    group_id=group.id,
                    name=wanted.name,
                    price_delta=wanted.price_delta,
                )
            )
        else:
            current[wanted.option_id].name = wanted.name
            current[wanted.option_id].price_delta = wanted.price_delta
    group.name = data.name
    group.min_select = data.min_select
    group.max_select = data.max_select
    item_changed(session, session.get_one(Item, group.item_id))
    session.commit()
    return group, _live_options(session, group.id)


def retire_option_group(session: Session, store_id: int, group_id: int) -> None:
    """Retire the group and its live options (order lines keep their own snapshots)."""
    group = _live_group(session, store_id, group_id)
    now = utcnow()
    group.retired_at = now
    for option in _live_options(session, group.id):
        option.retired_at = now
    item_changed(session, session.get_one(Item, group.item_id))
    session.commit()


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
    changed = [
        items[item_id]
        for item_id, cost in wanted.items()
        if cost is not None and _record_cost(session, items[item_id], cost, now)
    ]
    items_changed(session, changed)
    session.commit()
    return [items[item_id] for item_id in wanted]


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
            if aware(entry.effective_from) <= moment:
                result[item_id] = entry.cost
    return result
