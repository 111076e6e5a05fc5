"""Order service requests and responses (they validate input and document the API)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, RootModel

from salesync_common.types import Id, Model, Money, Quantity, TableNo

MAX_CART_ENTRIES = 100


class CartLineIn(Model):
    item_id: Id
    quantity: Quantity


class OrderIn(Model):
    table_no: TableNo
    carts: Annotated[list[CartLineIn], Field(max_length=MAX_CART_ENTRIES)] | None = None
    # Optional optimistic-concurrency check: the version this terminal last saw.
    version: Annotated[int, Field(ge=1, le=2_147_483_647)] | None = None


class PayIn(Model):
    sale_id: Id
    total_price: Annotated[int, Field(ge=0)]


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


class OpenLine(Model):
    item_id: int
    item_name: str
    quantity: int
    unit_price: int


class OpenOrder(Model):
    order_id: int
    version: int
    table_no: int
    total_price: int
    lines: list[OpenLine]


class OpenOrderOut(Model):
    order: OpenOrder | None


class PaidOut(Model):
    order_id: int
    status: str
    paid_sale_id: int
    paid_at: str
    paid_business_date: str
    total_price: int


class OrderStatusOut(Model):
    order_id: int
    status: str
    paid_sale_id: int | None
    total_price: int
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


class ItemSnapshot(Model):
    """What the item service answers for one live item (validated on the way in)."""

    item_id: int
    name: str
    price: Money
    cost: Money | None
    category_id: int
