"""Dashboard requests and responses (they validate input and document the API)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from salesync_common.types import REQ_ID_PATTERN, BusinessDate, ContractDates, Id, Model, Money


class DateQuery(ContractDates):
    """The settlement's business day (``/dashboard/calculate?date=``): a bad date is 400."""

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


class PaymentTypesOut(Model):
    card: int
    cash: int
    other: int


class HourOut(Model):
    hour: int
    order_count: int
    total: int


class CategoryOut(Model):
    category_id: int | None
    category_name: str | None
    quantity: int
    gross: int
    net: int


class StaffOut(Model):
    staff_id: int | None
    order_count: int
    total: int


SUMMARY_EXAMPLE: dict[str, Any] = {
    "result": "success",
    "message": "요약 조회 성공",
    "start_date": "2026-12-01",
    "end_date": "2026-12-01",
    "gross_sales": 52000,
    "discount_total": 2000,
    "refund_total": 5500,
    "net_sales": 44500,
    "vat": 3500,
    "supply_value": 35000,
    "exempt_total": 6000,
    "by_payment_type": {"card": 30000, "cash": 14500, "other": 0},
    "by_hour": [{"hour": h, "order_count": 0, "total": 0} for h in range(11)]
    + [{"hour": 11, "order_count": 2, "total": 32000}]
    + [{"hour": 12, "order_count": 1, "total": 18000}]
    + [{"hour": h, "order_count": 0, "total": 0} for h in range(13, 24)],
    "by_category": [
        {"category_id": 3, "category_name": "커피", "quantity": 7, "gross": 46000, "net": 44000},
        {"category_id": 4, "category_name": "쌀", "quantity": 2, "gross": 6000, "net": 6000},
    ],
    "by_staff": [
        {"staff_id": None, "order_count": 1, "total": 18000},
        {"staff_id": 7, "order_count": 2, "total": 32000},
    ],
    "order_count": 3,
    "average_check": 14833,
}


class SummaryOut(Model):
    """The period's summary (pos-v2.md "Reports"): net_sales = gross - discounts - refunds.

    ``vat``, ``supply_value`` and ``exempt_total`` are net of refunds; ``by_payment_type`` is what
    each tender took less what refunds gave back to it. ``by_hour`` (hour of payment on the
    store's clock), ``by_category`` and ``by_staff`` (the staff who took the payment that settled
    the order, null = the owner) are of the paid orders before refunds, after discounts.
    ``average_check`` = net_sales / order_count, half up.
    """

    model_config = ConfigDict(json_schema_extra={"examples": [SUMMARY_EXAMPLE]})

    result: str
    message: str
    start_date: str
    end_date: str
    gross_sales: int
    discount_total: int
    refund_total: int
    net_sales: int
    vat: int
    supply_value: int
    exempt_total: int
    by_payment_type: PaymentTypesOut
    by_hour: list[HourOut]
    by_category: list[CategoryOut]
    by_staff: list[StaffOut]
    order_count: int
    average_check: int


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
    """``consulting.results`` v1 (contracts/events/consulting.results.v1.schema.json)."""

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
