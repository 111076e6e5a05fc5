"""Dashboard requests and responses (they validate input and document the API)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from salesync_common.types import REQ_ID_PATTERN, BusinessDate, Id, Model, Money


class DateQuery(Model):
    date: BusinessDate


# ---------------------------------------------------------------------------- reports


class ItemSalesOut(Model):
    item_id: int
    name: str
    sales_volume: int
    profit: int
    quantity: int


class SalesOut(Model):
    result: str
    message: str
    start_date: str
    end_date: str
    sales_volume: int
    items: list[ItemSalesOut]


class DayOut(Model):
    date: str
    sales_volume: int
    profit: int


class VolumesOut(Model):
    result: str
    message: str
    start_date: str
    end_date: str
    total: list[DayOut]


class SalesReportOut(SalesOut):
    """Internal: the figures the consulting service sends to the model."""

    days: list[DayOut]
    uncosted_items: list[int]


# ---------------------------------------------------------------------------- costs


class CostItemOut(Model):
    item_id: int
    name: str
    price: int
    cost: int | None


class CostCategoryOut(Model):
    category_id: int
    category_name: str
    items: list[CostItemOut]


class CostsOut(Model):
    result: str
    message: str
    items: list[CostCategoryOut]


def _cost(value: Any) -> Any:
    # The cost page posts parseInt() values; JSON turns NaN into null, which means "unchanged".
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class CostEntryIn(Model):
    item_id: Id
    cost: Annotated[Money | None, BeforeValidator(_cost)] = None


class CostGroupIn(Model):
    """One category of the structure ``GET /dashboard/costs`` returned (extra keys ignored)."""

    items: list[CostEntryIn] = Field(max_length=2000)


class CostsIn(Model):
    # The grouped structure GET returned; flat ``{"item_id","cost"}`` entries are accepted too.
    items: list[CostGroupIn | CostEntryIn] = Field(max_length=2000)

    @model_validator(mode="after")
    def _no_contradictions(self) -> CostsIn:
        seen: dict[int, int | None] = {}
        for entry in self._entries():
            if entry.item_id in seen and seen[entry.item_id] != entry.cost:
                raise ValueError(f"item {entry.item_id} appears twice with different costs")
            seen[entry.item_id] = entry.cost
        return self

    def _entries(self) -> list[CostEntryIn]:
        entries: list[CostEntryIn] = []
        for entry in self.items:
            entries.extend(entry.items if isinstance(entry, CostGroupIn) else [entry])
        return entries

    def flatten(self) -> list[tuple[int, int | None]]:
        """``(item_id, cost)`` once per item, in the order the page listed them."""
        return list({entry.item_id: entry.cost for entry in self._entries()}.items())


class CostsSavedOut(Model):
    result: str
    message: str
    items: list[dict[str, Any]]


# ---------------------------------------------------------------------------- settlement


class SettlementOut(Model):
    result: str
    message: str
    already_sent: bool


# ---------------------------------------------------------------------------- consulting


class ResultEvent(Model):
    """``consulting.results`` v1 (consulting_service/events/consulting.results.v1.schema.json)."""

    model_config = ConfigDict(extra="ignore", strict=False)

    event_id: str = Field(min_length=1, max_length=64)
    req_id: str = Field(pattern=REQ_ID_PATTERN)
    store_id: Id
    status: Literal["succeeded", "failed"]
    advice: str | None = None
    model: str | None = Field(default=None, max_length=100)
    created_at: datetime


class ConsultingOut(Model):
    result: str
    message: str
    consulting: str | None = None


class ConsultingStatusOut(Model):
    status: Literal["succeeded", "failed"] | None
