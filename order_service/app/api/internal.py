"""Internal endpoints for sibling services (service credential; never routed by the BFF)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from salesync_common.api import endpoint
from salesync_common.auth import DEFAULT_TZ
from salesync_common.types import Period

from .. import orders, payments, reports
from ..models import db
from ..schemas import (
    ItemSalesOut,
    OrderStatusOut,
    OrderSummaryOut,
    PaymentIn,
    PaymentOut,
    TzQuery,
)

bp = Blueprint("internal_orders", __name__, url_prefix="/internal/stores/<id:store_id>")
TAGS = ("internal",)


@bp.post("/payments")
@endpoint(
    "Record a payment against an order, exactly once per payment_ref (one transaction)",
    auth="service",
    body=PaymentIn,
    query=TzQuery,
    responses={200: PaymentOut},
    extra_errors=(404, 409),
    tags=TAGS,
    description="The order is `order_id`, or the open order of `table_no`. `amount` null pays the "
    "whole balance. A different `expected_total` is 409 `total_changed` with `total_price`; more "
    "than the balance is 409 `amount_exceeds_balance`; an order not open is 409 `not_payable`; "
    "no open order on the table is 404 `no_open_order`. When the balance reaches 0 the order is "
    "paid (costs snapshotted from the menu read model, daily totals updated) and `status` is "
    "`paid`. The same `payment_ref` again answers what was recorded the first time. `pricing` "
    "is the order's figures as this payment left them (final once the order is paid).",
)
def record_payment(store_id: int, body: PaymentIn, query: TzQuery) -> dict[str, Any]:
    return payments.record_payment(db.session(), store_id, body, query.tz or DEFAULT_TZ)


@bp.get("/orders/<id:order_id>")
@endpoint(
    "The whole order (the detail of GET /orders/<order_id>, plus total_price)",
    auth="service",
    query=TzQuery,
    responses={200: OrderStatusOut},
    extra_errors=(404,),
    tags=TAGS,
    description="What receipts and refunds are built from: lines with options and discounts, "
    "the VAT breakdown, payments. Times in `tz` (default Asia/Seoul). `total_price` (= `total`) "
    "stays for the callers of the first version of this endpoint.",
)
def order_detail(store_id: int, order_id: int, query: TzQuery) -> dict[str, Any]:
    detail = orders.order_detail(db.session(), store_id, order_id, query.tz or DEFAULT_TZ)
    return {**detail, "total_price": detail["total"]}


@bp.get("/item-sales")
@endpoint(
    "Paid lines by (business day, item): quantity, revenue, cost (daily rows kept at payment)",
    auth="service",
    query=Period,
    responses={200: ItemSalesOut},
    tags=TAGS,
)
def item_sales(store_id: int, query: Period) -> dict[str, Any]:
    return {"rows": reports.item_sales(db.session(), store_id, query.start, query.end)}


@bp.get("/order-summary")
@endpoint(
    "Paid orders over [start, end] by business day of payment: totals, by hour, category, staff",
    auth="service",
    query=Period,
    responses={200: OrderSummaryOut},
    tags=TAGS,
    description="From the summary rollup rows kept in the pay transaction (two grouped reads "
    "whatever the number of orders). Figures before refunds (the sale service owns refunds). "
    "`by_hour`: 24 entries, the hour of `paid_at` on the store's clock. `by_staff`: the staff "
    "who took the payment that settled the order (null = the owner).",
)
def order_summary(store_id: int, query: Period) -> dict[str, Any]:
    return reports.order_summary(db.session(), store_id, query.start, query.end)
