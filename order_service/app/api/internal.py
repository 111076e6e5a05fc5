"""Internal endpoints for sibling services (service credential; never routed by the BFF)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from salesync_common.api import endpoint
from salesync_common.auth import DEFAULT_TZ
from salesync_common.types import Period

from .. import items, services
from ..models import db
from ..schemas import (
    ItemSalesOut,
    OpenOrderOut,
    OrderStatusOut,
    PaidOut,
    PayIn,
    TzQuery,
)

bp = Blueprint("internal_orders", __name__, url_prefix="/internal/stores/<id:store_id>")
TAGS = ("internal",)


@bp.get("/tables/<id:table_no>/open-order")
@endpoint(
    "The table's open order with its lines and server total (or null)",
    auth="service",
    responses={200: OpenOrderOut},
    tags=TAGS,
)
def open_order(store_id: int, table_no: int) -> dict[str, Any]:
    orders = services.open_orders(db.session, store_id, table_no)
    if not orders:
        return {"order": None}
    order = orders[0]
    return {
        "order": {
            "order_id": order["order_id"],
            "version": order["version"],
            "table_no": order["table_no"],
            "total_price": order["total_price"],
            "lines": order["lines"],
        }
    }


@bp.post("/orders/<id:order_id>/pay")
@endpoint(
    "Mark the open order paid by a sale (idempotent per sale_id)",
    auth="service",
    body=PayIn,
    query=TzQuery,
    responses={200: PaidOut},
    extra_errors=(409, 502, 503, 504),
    tags=TAGS,
)
def pay(store_id: int, order_id: int, body: PayIn, query: TzQuery) -> dict[str, Any]:
    tz = query.tz or DEFAULT_TZ
    order = services.pay(
        db.session,
        store_id,
        order_id,
        body.sale_id,
        body.total_price,
        tz,
        lambda item_ids: items.lookup(store_id, item_ids),
    )
    return services.paid_view(order, tz)


@bp.get("/orders/<id:order_id>")
@endpoint("An order's status", auth="service", responses={200: OrderStatusOut}, tags=TAGS)
def order_status(store_id: int, order_id: int) -> dict[str, Any]:
    order = services.order_for_store(db.session, store_id, order_id)
    return {
        "order_id": order.id,
        "status": order.status,
        "paid_sale_id": order.paid_sale_id,
        "total_price": order.total_price,
        "paid_business_date": (
            order.paid_business_date.isoformat() if order.paid_business_date else None
        ),
    }


@bp.get("/item-sales")
@endpoint(
    "Paid lines by (business day, item): quantity, revenue, cost (daily rows kept at payment)",
    auth="service",
    query=Period,
    responses={200: ItemSalesOut},
    tags=TAGS,
)
def item_sales(store_id: int, query: Period) -> dict[str, Any]:
    return {"rows": services.item_sales(db.session, store_id, query.start, query.end)}
