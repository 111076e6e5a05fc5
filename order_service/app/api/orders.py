"""Public order endpoints (``/orders``), exactly as the contract describes them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from salesync_common.api import endpoint
from salesync_common.app import runtime
from salesync_common.auth import current_identity
from salesync_common.timeutil import iso

from ...config import Settings
from .. import menu, services
from ..models import db
from ..schemas import (
    DiscountIn,
    OrderCancelledOut,
    OrderDetailOut,
    OrderIn,
    OrderWriteOut,
    SplitOut,
    SplitQuery,
    UnpaidsOut,
    UnpaidTableOut,
)

bp = Blueprint("orders", __name__, url_prefix="/orders")
TAGS = ("orders",)
CONFLICT_ERRORS = (409, 502, 503, 504)
CART_RULES = (
    "v2: a cart line may carry `options` (option ids of the item's groups); lines merge only when "
    "item and options are equal. Options not of the item, listed twice, outside a group's "
    "min_select..max_select or making the price negative answer 409 `options_invalid`; a sold-out "
    "item 409 `sold_out`. Nothing is written on a refusal."
)


def _settings() -> Settings:
    return runtime().settings  # type: ignore[return-value]


def _carts(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"item_id": line["item_id"], "item_name": line["item_name"], "quantity": line["quantity"]}
        for line in lines
    ]


@bp.post("/")
@endpoint(
    "Open the table's order, or add lines to its open order",
    permission="orders",
    body=OrderIn,
    responses={200: OrderWriteOut},
    idempotent=True,
    extra_errors=CONFLICT_ERRORS,
    tags=TAGS,
    description="Empty or null `carts` answers 200 "
    '`{"result":"failed","message":"주문 등록 실패 : 주문 내역 없음"}`. ' + CART_RULES,
)
def create_order(body: OrderIn) -> dict[str, Any]:
    identity = current_identity()
    if not body.carts:
        return {"result": "failed", "message": "주문 등록 실패 : 주문 내역 없음"}
    wanted = services.merge_cart(body.carts)
    written = menu.write_with_menu(
        db.session(),
        _settings(),
        identity.store_id,
        services.item_ids(wanted),
        lambda catalog: services.add_lines(
            db.session(),
            identity.store_id,
            body.table_no,
            wanted,
            catalog,
            identity.tz,
            identity.staff_id,
        ),
    )
    return {
        "result": "success",
        "message": "주문 생성 성공",
        "order_id": written.order_id,
        "table_no": written.table_no,
        "version": written.version,
    }


@bp.put("/")
@endpoint(
    "Replace the open order's lines (empty carts cancel it)",
    permission="orders",
    body=OrderIn,
    responses={200: OrderWriteOut},
    idempotent=True,
    extra_errors=CONFLICT_ERRORS,
    tags=TAGS,
    description="Empty carts cancel the open order (`result: cancelled`); with no open order an "
    "empty cart answers `result: failed` and a non-empty one opens an order. A concurrent change "
    "(or a `version` that is not the current one) answers 409 `version_conflict`; empty carts "
    "on an order with payments, 409 `has_payments` (nothing changes). "
    + CART_RULES
    + " Lines still in the cart keep their `line_id` and line discounts; a dropped line takes "
    "its line discounts with it. A change that would leave a discount above what it applies "
    "to answers 409 `discount_exceeds_base`; one that would bring the total under what was "
    "already paid, 409 `below_paid_total`.",
)
def replace_order(body: OrderIn) -> dict[str, Any]:
    identity = current_identity()
    wanted = services.merge_cart(body.carts or [])
    written = menu.write_with_menu(
        db.session(),
        _settings(),
        identity.store_id,
        services.item_ids(wanted),
        lambda catalog: services.replace_lines(
            db.session(),
            identity.store_id,
            body.table_no,
            wanted,
            catalog,
            identity.tz,
            body.version,
            identity.staff_id,
        ),
    )
    if written is None:
        return {"result": "failed", "message": "존재하지 않는 주문"}
    if not wanted:
        return {"result": "cancelled", "message": "주문 취소 : 주문 내역 없음"}
    return {
        "result": "success",
        "message": "주문 수정 성공",
        "order_id": written.order_id,
        "table_no": written.table_no,
        "version": written.version,
    }


@bp.delete("/<id:table_no>")
@endpoint(
    "Cancel the table's open order",
    permission="orders",
    responses={200: OrderCancelledOut},
    extra_errors=(409,),
    tags=TAGS,
    description="v2: an order with payments recorded against it (part-paid by a split tender) "
    "is not cancelled: 409 `has_payments` with `paid_total`, and the order stays as it is.",
)
def cancel_order(table_no: int) -> dict[str, Any]:
    identity = current_identity()
    cancelled = services.cancel_table(db.session(), identity.store_id, table_no, identity.staff_id)
    return {
        "result": "success",
        "message": "주문 삭제 성공",
        "table_no": table_no,
        "orders": cancelled,
    }


@bp.get("/unpaids")
@endpoint(
    "Open orders, one per table, ascending table_no",
    permission="orders",
    responses={200: UnpaidsOut},
    tags=TAGS,
)
def unpaid_orders() -> dict[str, Any]:
    identity = current_identity()
    orders = services.open_orders(db.session(), identity.store_id)
    return {
        "result": "success",
        "message": "미결제 주문 목록 조회 성공",
        "store_id": str(identity.store_id),
        "orders": [
            {
                "order_id": order["order_id"],
                "order_date": iso(order["opened_at"], identity.tz),
                "table_no": order["table_no"],
                "total_price": order["total_price"],
                "carts": _carts(order["lines"]),
            }
            for order in orders
        ],
    }


@bp.get("/unpaids/<id:table_no>")
@endpoint(
    'The table\'s open order (exactly {"carts": []} when the table is free)',
    permission="orders",
    responses={200: UnpaidTableOut},
    tags=TAGS,
)
def unpaid_table(table_no: int) -> dict[str, Any]:
    identity = current_identity()
    orders = services.open_orders(db.session(), identity.store_id, table_no)
    if not orders:
        return {"carts": []}
    order = orders[0]
    return {
        "result": "success",
        "message": "미결제 주문 테이블 조회 성공",
        "store_id": str(identity.store_id),
        "order_id": order["order_id"],
        "table_no": order["table_no"],
        "total_price": order["total_price"],
        "carts": _carts(order["lines"]),
    }


@bp.get("/<id:order_id>")
@endpoint(
    "The whole order: lines, discounts, VAT breakdown, payments, balance",
    permission="orders",
    responses={200: OrderDetailOut},
    extra_errors=(404,),
    tags=TAGS,
    description="Any order of the store (open, paid or cancelled); another store's is 404 "
    "`order_not_found`. Every figure is `salesync_common.pricing`'s: `total` = `subtotal` - "
    "`discount_total` = `taxable_total` + `exempt_total`; `vat` = round_half_up(taxable_total / "
    "11). A line's `discount` = `line_discount` (its own) + `order_discount` (its share of the "
    "order's, in proportion to the lines, remainder on the largest line).",
)
def order_detail(order_id: int) -> dict[str, Any]:
    identity = current_identity()
    return services.order_detail(db.session(), identity.store_id, order_id, identity.tz)


@bp.post("/<id:order_id>/discounts")
@endpoint(
    "Add a discount (order or line, percent or amount, with a reason)",
    permission="discount",
    body=DiscountIn,
    responses={201: OrderDetailOut},
    idempotent=True,
    extra_errors=(404, 409),
    tags=TAGS,
    description="Answers 201 with the recalculated order (the `GET /orders/<order_id>` shape). "
    "A line discount names its line by `line_id`, or by `item_id` when the order has one line "
    "of that item (else 409 `line_ambiguous`; none: 404 `line_not_found`). Line discounts apply "
    "first, then order discounts to what is left, in the order they were added. Refusals write "
    "nothing: more than what it applies to (or a percent above 100) 409 `discount_exceeds_base`; "
    "a total under the paid total 409 `below_paid_total`; an order not open 409 "
    "`order_not_open`; another store's order 404 `order_not_found`. Records `staff_id` on the "
    "discount and its `discount_added` event.",
)
def add_discount(order_id: int, body: DiscountIn) -> tuple[dict[str, Any], int]:
    identity = current_identity()
    services.add_discount(db.session(), identity.store_id, order_id, body, identity.staff_id)
    return services.order_detail(db.session(), identity.store_id, order_id, identity.tz), 201


@bp.delete("/<id:order_id>/discounts/<id:discount_id>")
@endpoint(
    "Remove a discount",
    permission="discount",
    responses={200: OrderDetailOut},
    extra_errors=(404, 409),
    tags=TAGS,
    description="Answers the recalculated order. Unknown discount (or another order's) 404 "
    "`discount_not_found`; an order not open 409 `order_not_open`. Writes a `discount_removed` "
    "event with `staff_id`.",
)
def remove_discount(order_id: int, discount_id: int) -> dict[str, Any]:
    identity = current_identity()
    services.remove_discount(
        db.session(), identity.store_id, order_id, discount_id, identity.staff_id
    )
    return services.order_detail(db.session(), identity.store_id, order_id, identity.tz)


@bp.get("/<id:order_id>/split")
@endpoint(
    "Split the balance in N shares (더치페이)",
    permission="orders",
    query=SplitQuery,
    responses={200: SplitOut},
    extra_errors=(404, 409),
    tags=TAGS,
    description="`ways` 1-100 (else 422). The shares sum exactly to the balance; the first "
    "`balance % ways` shares carry one won more (`pricing.split`). An order not open: 409 "
    "`order_not_open`.",
)
def split(order_id: int, query: SplitQuery) -> dict[str, Any]:
    return services.split(db.session(), current_identity().store_id, order_id, query.ways)
