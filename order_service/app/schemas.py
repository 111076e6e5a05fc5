"""Order service requests and responses (they validate input and document the API)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, RootModel, model_validator

from salesync_common.types import INT32_MAX, MONEY_MAX, Id, Model, Money, Quantity, TableNo

MAX_CART_ENTRIES = 100
MAX_LINE_OPTIONS = 50
MAX_SPLIT_WAYS = 100


class CartLineIn(Model):
    """A cart entry; v2 ``options`` (option ids of the item's groups) are optional."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"item_id": 12, "quantity": 2, "options": [31, 40]}]}
    )

    item_id: Id
    quantity: Quantity
    options: Annotated[list[Id], Field(max_length=MAX_LINE_OPTIONS)] | None = None


class OrderIn(Model):
    table_no: TableNo
    carts: Annotated[list[CartLineIn], Field(max_length=MAX_CART_ENTRIES)] | None = None
    # Optional optimistic-concurrency check: the version this terminal last saw.
    version: Annotated[int, Field(ge=1, le=INT32_MAX)] | None = None


class PaymentIn(Model):
    """One payment of an order, identified by ``payment_ref`` (exactly once per ref)."""

    payment_ref: Annotated[
        str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    ]
    table_no: TableNo | None = None
    order_id: Id | None = None
    # None: the whole balance
    amount: Annotated[int, Field(ge=1, le=MONEY_MAX)] | None = None
    # The total the client saw (the first contract's total_price); a different server total is
    # 409 total_changed and nothing is recorded. None: no check.
    expected_total: Money | None = None
    payment_type: Literal["card", "cash", "other"]
    staff_id: Id | None = None

    @model_validator(mode="after")
    def _one_target(self) -> PaymentIn:
        if (self.table_no is None) == (self.order_id is None):
            raise ValueError("exactly one of table_no and order_id is required")
        return self


class StreamQuery(Model):
    # The seq of the last event the client has; the ``Last-Event-ID`` header wins when both come.
    last_event_id: Annotated[str, Field(pattern=r"^[0-9]{1,18}$")] | None = None


class DiscountIn(Model):
    """A discount: on the order, or on one line (named by ``line_id``, or ``item_id`` when the
    order has exactly one line of that item). ``value`` is a percent (1-100) or won."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"scope": "order", "kind": "amount", "value": 1000, "reason": "단골 할인"},
                {"scope": "line", "item_id": 12, "kind": "percent", "value": 10, "reason": "쿠폰"},
            ]
        }
    )

    scope: Literal["order", "line"]
    item_id: Id | None = None
    line_id: Id | None = None
    kind: Literal["percent", "amount"]
    value: Annotated[int, Field(ge=1, le=MONEY_MAX)]
    reason: Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]

    @model_validator(mode="after")
    def _target(self) -> DiscountIn:
        named = (self.item_id is not None) + (self.line_id is not None)
        if self.scope == "line" and named != 1:
            raise ValueError("a line discount names exactly one of item_id and line_id")
        if self.scope == "order" and named:
            raise ValueError("an order discount names no line")
        return self


class SplitQuery(Model):
    # a query string is text: digits are read as the integer they spell (not strict)
    ways: Annotated[int, Field(ge=1, le=MAX_SPLIT_WAYS, strict=False)]


class TzQuery(Model):
    tz: Annotated[str, Field(min_length=1, max_length=64)] | None = None


# ---- public responses


class ResultOut(Model):
    result: str
    message: str


class OrderWrittenOut(Model):
    result: str
    message: str
    order_id: int
    table_no: int
    version: int


class OrderWriteOut(RootModel[OrderWrittenOut | ResultOut]):
    """Success with the order, or a 200 business refusal (``result`` failed/cancelled)."""


class OrderCancelledOut(Model):
    result: str
    message: str
    table_no: int
    orders: list[int]


class CartOut(Model):
    item_id: int
    item_name: str
    quantity: int


class UnpaidOrder(Model):
    order_id: int
    order_date: str
    table_no: int
    total_price: int
    carts: list[CartOut]


class UnpaidsOut(Model):
    result: str
    message: str
    store_id: str
    orders: list[UnpaidOrder]


class UnpaidTableOut(Model):
    """The open order of a table; exactly ``{"carts": []}`` when the table is free."""

    result: str | None = None
    message: str | None = None
    store_id: str | None = None
    order_id: int | None = None
    table_no: int | None = None
    total_price: int | None = None
    carts: list[CartOut]


class LineOptionOut(Model):
    option_id: int
    group_id: int
    name: str
    price_delta: int


class OrderLineOut(Model):
    """A line's snapshot and figures: ``amount`` = unit_price x quantity; ``discount`` =
    ``line_discount`` (its own) + ``order_discount`` (its share of the order's); ``net`` = amount -
    discount."""

    line_id: int
    item_id: int
    item_name: str
    category_id: int | None
    category_name: str | None
    tax: Literal["vat", "exempt"]
    options: list[LineOptionOut]
    unit_price: int
    quantity: int
    amount: int
    line_discount: int
    order_discount: int
    discount: int
    net: int


class DiscountOut(Model):
    """A discount entered and ``amount``, what it takes off the order now."""

    discount_id: int
    scope: Literal["order", "line"]
    line_id: int | None
    item_id: int | None
    kind: Literal["percent", "amount"]
    value: int
    amount: int
    reason: str
    staff_id: int | None
    created_at: str


class OrderPaymentOut(Model):
    payment_ref: str
    amount: int
    payment_type: str
    staff_id: int | None
    created_at: str


class PricingOut(Model):
    """``total`` = ``subtotal`` - ``discount_total`` = ``taxable_total`` + ``exempt_total``;
    ``vat`` + ``supply_value`` = ``taxable_total``."""

    subtotal: int
    discount_total: int
    total: int
    taxable_total: int
    vat: int
    supply_value: int
    exempt_total: int


ORDER_DETAIL_EXAMPLE: dict[str, Any] = {
    "order_id": 812,
    "table_no": 3,
    "status": "open",
    "version": 4,
    "opened_at": "2026-12-15T12:01:09+09:00",
    "updated_at": "2026-12-15T12:09:41+09:00",
    "paid_at": None,
    "paid_business_date": None,
    "staff_id": 7,
    "lines": [
        {
            "line_id": 1501,
            "item_id": 12,
            "item_name": "아메리카노",
            "category_id": 3,
            "category_name": "커피",
            "tax": "vat",
            "options": [{"option_id": 31, "group_id": 9, "name": "샷 추가", "price_delta": 500}],
            "unit_price": 5000,
            "quantity": 2,
            "amount": 10000,
            "line_discount": 1000,
            "order_discount": 0,
            "discount": 1000,
            "net": 9000,
        }
    ],
    "discounts": [
        {
            "discount_id": 44,
            "scope": "line",
            "line_id": 1501,
            "item_id": 12,
            "kind": "percent",
            "value": 10,
            "amount": 1000,
            "reason": "쿠폰",
            "staff_id": 7,
            "created_at": "2026-12-15T12:09:41+09:00",
        }
    ],
    "subtotal": 10000,
    "discount_total": 1000,
    "total": 9000,
    "taxable_total": 9000,
    "vat": 818,
    "supply_value": 8182,
    "exempt_total": 0,
    "payments": [],
    "paid_total": 0,
    "balance": 9000,
}


class OrderDetailOut(PricingOut):
    """The whole order (``GET /orders/<order_id>``; the same for sibling services)."""

    model_config = ConfigDict(json_schema_extra={"examples": [ORDER_DETAIL_EXAMPLE]})

    order_id: int
    table_no: int
    status: str
    version: int
    opened_at: str
    updated_at: str
    paid_at: str | None
    paid_business_date: str | None
    staff_id: int | None
    # a cancelled order whose lines a table transfer merged into this open order
    merged_into_order_id: int | None = None
    lines: list[OrderLineOut]
    discounts: list[DiscountOut]
    payments: list[OrderPaymentOut]
    paid_total: int
    balance: int


class SplitOut(Model):
    """``shares`` sum exactly to ``balance``; the first ``balance % ways`` carry one won more."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"balance": 10000, "shares": [3334, 3333, 3333]}]}
    )

    balance: int
    shares: list[int]


# ---- internal responses


class PaymentOut(Model):
    """What a payment did to its order (the same answer again for a replayed ``payment_ref``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": 812,
                    "table_no": 3,
                    "payment_ref": "0b7f1c9e-3c1a-4f0e-9a57-2d1e6c8b4f10",
                    "amount": 9000,
                    "total": 9000,
                    "paid_total": 9000,
                    "balance": 0,
                    "status": "paid",
                    "paid_at": "2026-12-15T12:30:00+09:00",
                    "paid_business_date": "2026-12-15",
                    "pricing": {
                        "subtotal": 10000,
                        "discount_total": 1000,
                        "total": 9000,
                        "taxable_total": 9000,
                        "vat": 818,
                        "supply_value": 8182,
                        "exempt_total": 0,
                    },
                }
            ]
        }
    )

    order_id: int
    table_no: int
    payment_ref: str
    amount: int
    total: int
    paid_total: int
    balance: int
    status: str
    paid_at: str | None
    paid_business_date: str | None
    pricing: PricingOut  # the order's figures as this payment left it (final once paid)


class OrderStatusOut(OrderDetailOut):
    """The internal twin of ``GET /orders/<order_id>``; ``total_price`` = ``total``."""

    total_price: int


class ItemSalesRow(Model):
    date: str
    item_id: int
    item_name: str
    quantity: int
    sales_volume: int  # gross - discount: the lines' net
    gross: int
    discount: int
    cost_total: int
    uncosted_quantity: int
    uncosted_first_paid_at: str | None


class ItemSalesOut(Model):
    rows: list[ItemSalesRow]


class HourSummary(Model):
    hour: Annotated[int, Field(ge=0, le=23)]  # of paid_at on the store's clock
    order_count: int
    total: int  # the orders' totals (after discounts, before refunds)


class CategorySummary(Model):
    category_id: int | None  # null: lines written before categories were snapshotted
    category_name: str | None
    quantity: int
    gross: int
    net: int  # gross less the lines' own and allocated discounts


class StaffSummary(Model):
    staff_id: int | None  # who took the payment that settled the order; null: the owner
    order_count: int
    total: int


ORDER_SUMMARY_EXAMPLE: dict[str, Any] = {
    "gross_sales": 52000,
    "discount_total": 2000,
    "total": 50000,
    "taxable_total": 44000,
    "vat": 4000,
    "supply_value": 40000,
    "exempt_total": 6000,
    "order_count": 3,
    "by_hour": [{"hour": h, "order_count": 0, "total": 0} for h in range(11)]
    + [{"hour": 11, "order_count": 2, "total": 32000}]
    + [{"hour": 12, "order_count": 1, "total": 18000}]
    + [{"hour": h, "order_count": 0, "total": 0} for h in range(13, 24)],
    "by_category": [
        {
            "category_id": 3,
            "category_name": "커피",
            "quantity": 7,
            "gross": 46000,
            "net": 44000,
        },
        {
            "category_id": 4,
            "category_name": "쌀",
            "quantity": 2,
            "gross": 6000,
            "net": 6000,
        },
    ],
    "by_staff": [
        {"staff_id": None, "order_count": 1, "total": 18000},
        {"staff_id": 7, "order_count": 2, "total": 32000},
    ],
}


class OrderSummaryOut(Model):
    """Paid orders of a period by ``paid_business_date`` (before refunds: the sale service's)."""

    model_config = ConfigDict(json_schema_extra={"examples": [ORDER_SUMMARY_EXAMPLE]})

    gross_sales: int
    discount_total: int
    total: int
    taxable_total: int
    vat: int
    supply_value: int
    exempt_total: int
    order_count: int
    by_hour: list[HourSummary]
    by_category: list[CategorySummary]
    by_staff: list[StaffSummary]


class MenuOption(Model):
    option_id: int
    name: str
    price_delta: int  # integer won added to the item's price; may be negative


class MenuOptionGroup(Model):
    """An item's option group as the item service publishes it (ascending ids, live only).

    The item service guarantees 0 <= min_select <= max_select <= len(options), max_select >= 1.
    """

    group_id: int
    name: str
    min_select: int
    max_select: int
    options: list[MenuOption]


class ItemSnapshot(Model):
    """An item as the hot path uses it: from the read model, or the item service's answer.

    The v2 fields default to what an item service (or event) from before them meant: VAT
    included, available, no options; ``category_name`` None when not known yet.
    """

    item_id: int
    name: str
    price: Money
    cost: Money | None
    category_id: int
    # None only from an item service that predates versions (a rolling deploy): not cached
    version: int | None = None
    tax: Literal["vat", "exempt"] = "vat"
    sold_out: bool = False
    category_name: str | None = None
    option_groups: list[MenuOptionGroup] = Field(default_factory=list)


class MenuItemEvent(Model):
    """A ``menu.items`` event (contracts/events/menu.items.v1.schema.json); unknown keys ignored."""

    event_id: str
    store_id: Id
    item_id: Id
    category_id: Id
    name: Annotated[str, Field(min_length=1, max_length=100)]
    price: Money
    cost: Money | None
    retired: bool
    version: Annotated[int, Field(ge=1)]
    changed_at: str
    # v2 fields (optional in the schema: a v1 event means their defaults)
    tax: Literal["vat", "exempt"] = "vat"
    sold_out: bool = False
    category_name: str | None = None
    option_groups: list[MenuOptionGroup] = Field(default_factory=list)


# ---- tables (transfer, move-lines) and the audit trail


class TransferIn(Model):
    """Move the table's open order to ``to_table``, or merge it into that table's open order."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"to_table": 12}]})

    to_table: TableNo


class TransferOut(Model):
    """``moved``: the order now sits on ``to_table``; ``merged``: its lines joined ``order_id``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "result": "moved",
                    "order_id": 41,
                    "from_table": 3,
                    "to_table": 12,
                    "version": 5,
                    "merged_from_order_id": None,
                    "total": 27000,
                },
                {
                    "result": "merged",
                    "order_id": 44,
                    "from_table": 3,
                    "to_table": 12,
                    "version": 8,
                    "merged_from_order_id": 41,
                    "total": 52500,
                },
            ]
        }
    )

    result: Literal["moved", "merged"]
    order_id: int
    from_table: int
    to_table: int
    version: int
    merged_from_order_id: int | None
    total: int


class MoveLineIn(Model):
    """Units of one line of the source order: by ``line_id``, or by ``item_id`` + ``options``."""

    line_id: Id | None = None
    item_id: Id | None = None
    options: Annotated[list[Id], Field(max_length=MAX_LINE_OPTIONS)] | None = None
    quantity: Quantity

    @model_validator(mode="after")
    def _one_line(self) -> MoveLineIn:
        if (self.line_id is None) == (self.item_id is None):
            raise ValueError("exactly one of line_id and item_id is required")
        if self.line_id is not None and self.options is not None:
            raise ValueError("options name a line by item_id; a line_id needs none")
        return self


class MoveLinesIn(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "to_table": 12,
                    "lines": [
                        {"item_id": 7, "options": [31], "quantity": 1},
                        {"line_id": 1042, "quantity": 2},
                    ],
                }
            ]
        }
    )

    to_table: TableNo
    lines: Annotated[list[MoveLineIn], Field(min_length=1, max_length=MAX_CART_ENTRIES)]


class MovedLineOut(Model):
    line_id: int  # the source line the units came from
    item_id: int
    options: list[int]
    quantity: int


class MoveLinesOut(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "from_order_id": 41,
                    "from_table": 3,
                    "from_version": 6,
                    "from_total": 18000,
                    "to_order_id": 45,
                    "to_table": 12,
                    "to_version": 1,
                    "to_total": 9000,
                    "lines": [{"line_id": 1042, "item_id": 7, "options": [31], "quantity": 1}],
                }
            ]
        }
    )

    from_order_id: int
    from_table: int
    from_version: int
    from_total: int
    to_order_id: int
    to_table: int
    to_version: int
    to_total: int
    lines: list[MovedLineOut]


class OrderEventOut(Model):
    """One entry of the audit trail; ``seq`` is null for a refund (the sale service's)."""

    seq: int | None
    type: str
    at: str
    staff_id: int | None
    data: dict[str, object]


class OrderEventsOut(Model):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": 41,
                    "events": [
                        {
                            "seq": 101,
                            "type": "opened",
                            "at": "2026-12-20T12:01:05.120+09:00",
                            "staff_id": 3,
                            "data": {"table_no": 3, "business_date": "2026-12-20"},
                        },
                        {
                            "seq": 102,
                            "type": "lines_changed",
                            "at": "2026-12-20T12:01:05.120+09:00",
                            "staff_id": 3,
                            "data": {
                                "table_no": 3,
                                "version": 1,
                                "total": 9000,
                                "lines": [
                                    {
                                        "line_id": 1042,
                                        "item_id": 7,
                                        "item_name": "아메리카노",
                                        "quantity": 2,
                                        "unit_price": 4500,
                                        "options": [],
                                    }
                                ],
                            },
                        },
                        {
                            "seq": 130,
                            "type": "transferred",
                            "at": "2026-12-20T12:20:44.002+09:00",
                            "staff_id": 4,
                            "data": {"table_no": 12, "from_table": 3, "to_table": 12},
                        },
                        {
                            "seq": None,
                            "type": "refund",
                            "at": "2026-12-20T13:02:10.500+09:00",
                            "staff_id": 2,
                            "data": {
                                "refund_id": 9,
                                "sale_id": 77,
                                "amount": 4500,
                                "reason": "음료 불량",
                            },
                        },
                    ],
                }
            ]
        }
    )

    order_id: int
    events: list[OrderEventOut]
    refunds_unavailable: bool = False
