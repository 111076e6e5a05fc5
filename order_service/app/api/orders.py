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
    OrderCancelledOut,
    OrderIn,
    OrderWriteOut,
    UnpaidsOut,
    UnpaidTableOut,
)

bp = Blueprint("orders", __name__, url_prefix="/orders")
TAGS = ("orders",)
CONFLICT_ERRORS = (409, 502, 503, 504)


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
    '`{"result":"failed","message":"주문 등록 실패 : 주문 내역 없음"}`.',
)
def create_order(body: OrderIn) -> dict[str, Any]:
    identity = current_identity()
    if not body.carts:
        return {"result": "failed", "message": "주문 등록 실패 : 주문 내역 없음"}
    wanted = services.merge_cart(body.carts)
    catalog = menu.lookup(db.session(), _settings(), identity.store_id, wanted)
    written = services.add_lines(
        db.session(), identity.store_id, body.table_no, wanted, catalog, identity.tz
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
    "(or a `version` that is not the current one) answers 409 `version_conflict`.",
)
def replace_order(body: OrderIn) -> dict[str, Any]:
    identity = current_identity()
    wanted = services.merge_cart(body.carts or [])
    catalog = menu.lookup(db.session(), _settings(), identity.store_id, wanted)
    written = services.replace_lines(
        db.session(), identity.store_id, body.table_no, wanted, catalog, identity.tz, body.version
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
    tags=TAGS,
)
def cancel_order(table_no: int) -> dict[str, Any]:
    cancelled = services.cancel_table(db.session(), current_identity().store_id, table_no)
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
