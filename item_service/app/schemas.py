"""Item service requests and responses (they validate input and document the API)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from salesync_common.types import ID_MAX, Id, Model, Money, Name, PriceInput, Text

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
Description = Annotated[str, Text(500, 0)]
Tax = Literal["vat", "exempt"]
PRICE_DELTA_MAX = 100_000_000
MAX_OPTIONS = 50
# integer won added to the item's price; negative for a cheaper choice
PriceDelta = Annotated[int, Field(ge=-PRICE_DELTA_MAX, le=PRICE_DELTA_MAX)]
SelectCount = Annotated[int, Field(ge=0, le=MAX_OPTIONS)]


class CategoryIn(Model):
    name: Name


class ItemCreateIn(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "아메리카노", "price": 4500, "tax": "vat", "sold_out": False}]
        }
    )

    name: Name
    price: PriceInput
    description: Description | None = None
    cost: Money | None = None
    tax: Tax = "vat"
    sold_out: bool = False


class ItemUpdateIn(Model):
    name: Name
    price: PriceInput
    category_id: Id | None = None
    description: Description | None = None
    # Present and null clears the cost; absent leaves it unchanged.
    cost: Money | None = None
    # Absent leaves them unchanged (the defaults below are never applied to a stored item).
    tax: Tax = "vat"
    sold_out: bool = False

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "아메리카노", "price": 4500, "sold_out": True}]}
    )


class IdsQuery(Model):
    ids: IdList


class CostIn(Model):
    item_id: Id
    cost: Money | None = None


class CostsIn(Model):
    items: Annotated[list[CostIn], Field(max_length=2000)]


class OptionIn(Model):
    name: Name
    price_delta: PriceDelta


class OptionUpdateIn(OptionIn):
    # Present: that option of the group keeps its id (renamed/repriced); absent: a new option.
    option_id: Id | None = None


class OptionGroupIn(Model):
    """A group and its options; the invariant every stored group keeps is checked here."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "사이즈",
                    "min_select": 1,
                    "max_select": 1,
                    "options": [
                        {"name": "레귤러", "price_delta": 0},
                        {"name": "라지", "price_delta": 500},
                    ],
                }
            ]
        }
    )

    name: Name
    min_select: SelectCount
    max_select: Annotated[int, Field(ge=1, le=MAX_OPTIONS)]
    options: Annotated[list[OptionIn], Field(min_length=1, max_length=MAX_OPTIONS)]

    @model_validator(mode="after")
    def _bounds_and_unique_names(self) -> Self:
        if self.min_select > self.max_select:
            raise ValueError("min_select must not exceed max_select")
        if self.max_select > len(self.options):
            raise ValueError("max_select must not exceed the number of options")
        names = [option.name for option in self.options]
        if len(set(names)) != len(names):
            raise ValueError("option names must be unique within a group")
        return self


class OptionGroupUpdateIn(OptionGroupIn):
    """The whole group again: options with an ``option_id`` keep it, the others are new, and the
    group's live options left out are retired."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "사이즈",
                    "min_select": 1,
                    "max_select": 1,
                    "options": [
                        {"option_id": 31, "name": "레귤러", "price_delta": 0},
                        {"name": "엑스트라 라지", "price_delta": 1000},
                    ],
                }
            ]
        }
    )

    options: Annotated[list[OptionUpdateIn], Field(min_length=1, max_length=MAX_OPTIONS)]  # type: ignore[assignment]

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        ids = [option.option_id for option in self.options if option.option_id is not None]
        if len(set(ids)) != len(ids):
            raise ValueError("an option_id appears twice")
        return self


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


GROUP_EXAMPLE: dict[str, Any] = {
    "group_id": 7,
    "name": "사이즈",
    "min_select": 1,
    "max_select": 1,
    "options": [
        {"option_id": 31, "name": "레귤러", "price_delta": 0},
        {"option_id": 32, "name": "라지", "price_delta": 500},
    ],
}


class OptionOut(Model):
    option_id: int
    name: str
    price_delta: int


class OptionGroupOut(Model):
    """Groups ascending by id, options ascending by id; retired ones are absent."""

    model_config = ConfigDict(json_schema_extra={"examples": [GROUP_EXAMPLE]})

    group_id: int
    name: str
    min_select: int
    max_select: int
    options: list[OptionOut]


class OptionGroupDeletedOut(Model):
    result: str
    message: str
    group_id: int


class CostItem(Model):
    item_id: int
    name: str
    price: int
    cost: int | None


class MenuItem(CostItem):
    tax: Tax
    sold_out: bool
    option_groups: list[OptionGroupOut]


class MenuCategory(Model):
    category_id: int
    category_name: str
    items: list[MenuItem]


class MenuOut(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "categories": [
                        {
                            "category_id": 3,
                            "category_name": "커피",
                            "items": [
                                {
                                    "item_id": 12,
                                    "name": "아메리카노",
                                    "price": 4500,
                                    "cost": 1200,
                                    "tax": "vat",
                                    "sold_out": False,
                                    "option_groups": [GROUP_EXAMPLE],
                                }
                            ],
                        }
                    ]
                }
            ]
        }
    )

    categories: list[MenuCategory]


class CostCategory(Model):
    category_id: int
    category_name: str
    items: list[CostItem]


class CostPageOut(Model):
    items: list[CostCategory]


class LiveItem(Model):
    item_id: int
    name: str
    price: int
    cost: int | None
    category_id: int
    # the item's change counter, as in its menu.items events (the order service's read model
    # keeps the newest version it saw)
    version: int
    tax: Tax
    sold_out: bool
    category_name: str
    option_groups: list[OptionGroupOut]


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
