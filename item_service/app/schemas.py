"""Item service requests and responses (they validate input and document the API)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

from salesync_common.types import ID_MAX, Id, Model, Money, Name, PriceInput, text

MAX_IDS = 500


def _id_list(value: Any) -> Any:
    # "?ids=1,2,3": comma-separated positive ids, deduplicated, at most MAX_IDS.
    if not isinstance(value, str):
        raise ValueError("must be comma-separated ids")
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not parts or len(parts) > MAX_IDS:
        raise ValueError(f"between 1 and {MAX_IDS} ids")
    ids: list[int] = []
    for part in parts:
        if not part.isdigit() or len(part) > 10 or not 1 <= int(part) <= ID_MAX:
            raise ValueError("ids must be positive integers")
        ids.append(int(part))
    return list(dict.fromkeys(ids))


IdList = Annotated[
    list[int],
    BeforeValidator(_id_list),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(,\d+)*$", "example": "1,2,3"}),
]
Description = text(500, 0)


class CategoryIn(Model):
    name: Name


class ItemCreateIn(Model):
    name: Name
    price: PriceInput
    description: Description | None = None  # type: ignore[valid-type]
    cost: Money | None = None


class ItemUpdateIn(Model):
    name: Name
    price: PriceInput
    category_id: Id | None = None
    description: Description | None = None  # type: ignore[valid-type]
    # Present and null clears the cost; absent leaves it unchanged.
    cost: Money | None = None


class IdsQuery(Model):
    ids: IdList


class CostIn(Model):
    item_id: Id
    cost: Money | None = None


class CostsIn(Model):
    items: Annotated[list[CostIn], Field(max_length=2000)]


# ---- responses


class CategoryRef(Model):
    id: int
    name: str


class CategoriesOut(Model):
    categories: list[CategoryRef]
    store_id: int


class CreatedOut(Model):
    result: str
    message: str
    id: int


class CategoryDeletedOut(Model):
    result: str
    message: str
    category_id: int


class ItemChangedOut(Model):
    result: str
    message: str
    item_id: int


class FailedOut(Model):
    result: str
    message: str


class MenuItem(Model):
    item_id: int
    name: str
    price: int
    cost: int | None


class MenuCategory(Model):
    category_id: int
    category_name: str
    items: list[MenuItem]


class MenuOut(Model):
    categories: list[MenuCategory]


class CostPageOut(Model):
    items: list[MenuCategory]


class LiveItem(Model):
    item_id: int
    name: str
    price: int
    cost: int | None
    category_id: int
    # the item's change counter, as in its menu.items events (the order service's read model
    # keeps the newest version it saw)
    version: int


class LiveItemsOut(Model):
    items: list[LiveItem]


class CostEntry(Model):
    cost: int | None
    effective_from: str


class CostHistory(Model):
    item_id: int
    history: list[CostEntry]


class CostHistoryOut(Model):
    items: list[CostHistory]
