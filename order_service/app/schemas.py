"""Order service requests and responses (they validate input and document the API)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, RootModel, model_validator

from salesync_common.types import MONEY_MAX, Id, Model, Money, Quantity, TableNo

MAX_CART_ENTRIES = 100


class CartLineIn(Model):
    item_id: Id
    quantity: Quantity


class OrderIn(Model):
    table_no: TableNo
    carts: Annotated[list[CartLineIn], Field(max_length=MAX_CART_ENTRIES)] | None = None
    # Optional optimistic-concurrency check: the version this terminal last saw.
    version: Annotated[int, Field(ge=1, le=2_147_483_647)] | None = None


PAYMENT_TYPES = ("card", "cash", "other")


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


# ---- internal responses


class PaymentOut(Model):
    """What a payment did to its order (the same answer again for a replayed ``payment_ref``)."""

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


class OrderStatusOut(Model):
    order_id: int
    table_no: int
    status: str
    version: int
    total_price: int
    paid_total: int
    balance: int
    paid_business_date: str | None


class ItemSalesRow(Model):
    date: str
    item_id: int
    item_name: str
    quantity: int
    sales_volume: int
    cost_total: int
    uncosted_quantity: int
    uncosted_first_paid_at: str | None


class ItemSalesOut(Model):
    rows: list[ItemSalesRow]


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
