"""Items as the menu and other services see them, option groups included: always one query.

An item's option groups (ascending id) with their options (ascending id) are read by outer joins
in the same statement as the item, so a listing or a batch costs one query whatever its size.
Retired groups and options are absent. The folded shape is the one of ``schemas.OptionGroupOut``,
of the ``menu.items`` snapshot and of the internal lookup (docs/internal-api.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVarTuple

from sqlalchemy import Row, Select, and_, select
from sqlalchemy.orm import Session

from .models import Category, Item, Option, OptionGroup

GROUP_COLUMNS = (
    OptionGroup.id,
    OptionGroup.name,
    OptionGroup.min_select,
    OptionGroup.max_select,
    Option.id,
    Option.name,
    Option.price_delta,
)
GROUP_ORDER = (OptionGroup.id, Option.id)

Columns = TypeVarTuple("Columns")


def join_option_groups(query: Select[*Columns]) -> Select[*Columns]:
    """Outer-join each ``Item`` row of ``query`` to its live groups and their live options."""
    return query.outerjoin(
        OptionGroup, and_(OptionGroup.item_id == Item.id, OptionGroup.retired_at.is_(None))
    ).outerjoin(Option, and_(Option.group_id == OptionGroup.id, Option.retired_at.is_(None)))


def fold_option(groups: list[dict[str, Any]], row: Row[Any] | Sequence[Any]) -> None:
    """Append the group/option of a row ending with ``GROUP_COLUMNS`` (rows in GROUP_ORDER)."""
    group_id, name, min_select, max_select, option_id, option_name, price_delta = tuple(row)[-7:]
    if group_id is None:
        return
    if not groups or groups[-1]["group_id"] != group_id:
        groups.append(
            {
                "group_id": group_id,
                "name": name,
                "min_select": min_select,
                "max_select": max_select,
                "options": [],
            }
        )
    if option_id is not None:
        groups[-1]["options"].append(
            {"option_id": option_id, "name": option_name, "price_delta": price_delta}
        )


def item_details(
    session: Session, item_ids: Iterable[int], *, store_id: int | None = None, live: bool = False
) -> dict[int, tuple[Item, str, list[dict[str, Any]]]]:
    """``{item_id: (item, category name, option groups)}`` for ``item_ids``, ascending: one query.

    ``store_id`` scopes the lookup to one store; ``live`` leaves retired items out.
    """
    ids = list(item_ids)
    if not ids:
        return {}
    query = join_option_groups(
        select(Item, Category.name, *GROUP_COLUMNS)
        .join(Category, Category.id == Item.category_id)
        .where(Item.id.in_(ids))
    )
    if store_id is not None:
        query = query.where(Item.store_id == store_id)
    if live:
        query = query.where(Item.retired_at.is_(None))
    details: dict[int, tuple[Item, str, list[dict[str, Any]]]] = {}
    for row in session.execute(query.order_by(Item.id, *GROUP_ORDER)):
        item, category_name = row[0], row[1]
        if item.id not in details:
            details[item.id] = (item, category_name, [])
        fold_option(details[item.id][2], row)
    return details


def lookup_row(item: Item, category_name: str, groups: list[dict[str, Any]]) -> dict[str, Any]:
    """One row of ``GET /internal/stores/<sid>/items`` (``schemas.LiveItem``)."""
    return {
        "item_id": item.id,
        "name": item.name,
        "price": item.price,
        "cost": item.cost,
        "category_id": item.category_id,
        "version": item.version,
        "tax": item.tax,
        "sold_out": item.sold_out,
        "category_name": category_name,
        "option_groups": groups,
    }
