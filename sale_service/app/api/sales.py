"""Public sale endpoints (payment, listing, refund), exactly as the contract describes them."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from salesync_common.api import endpoint
from salesync_common.auth import current_identity
from salesync_common.idempotency import HEADER as IDEMPOTENCY_HEADER

from .. import services
from ..gateway import order_gateway
from ..models import db
from ..schemas import PaidOut, PayIn, ResultOut, SalesOut, TotalMismatchOut

bp = Blueprint("sales", __name__, url_prefix="/sales")
TAGS = ("sales",)


@bp.post("/")
@endpoint(
    "Pay the table's open order (exactly once)",
    permission="payments",
    body=PayIn,
    responses={201: PaidOut, 200: ResultOut, 409: TotalMismatchOut},
    idempotent=True,
    extra_errors=(502, 503, 504),
    tags=TAGS,
    description=(
        "The amount recorded is the order's server total; a differing `total_price` is 409 with "
        "the server total and nothing is paid. No open order: 200 `result: failed`. One call to "
        "the order service; the same `Idempotency-Key` names the same payment (the same sale)."
    ),
)
def pay(body: PayIn) -> tuple[dict[str, Any], int]:
    identity = current_identity()
    outcome = services.pay_table(
        db.session,
        order_gateway(),
        store_id=identity.store_id,
        tz=identity.tz,
        table_no=body.table_no,
        payment_label=body.payment_type,
        client_total=body.total_price,
        idempotency_key=(request.headers.get(IDEMPOTENCY_HEADER) or "").strip() or None,
    )
    if not outcome.success:
        return {"result": "failed", "message": services.FAILED_MESSAGE}, 200
    return {"result": "success", "message": services.PAID_MESSAGE, "id": outcome.sale_id}, 201


@bp.get("/")
@endpoint(
    "The store's sales, oldest first (refunded ones flagged)",
    permission="reports",
    responses={200: SalesOut},
    tags=TAGS,
)
def list_sales() -> dict[str, Any]:
    identity = current_identity()
    return {"sales": services.list_sales(db.session, identity.store_id, identity.tz)}


@bp.delete("/<id:sale_id>")
@endpoint(
    "Refund (void) one of the store's sales",
    permission="refund",
    responses={200: ResultOut},
    extra_errors=(409,),
    tags=TAGS,
)
def refund(sale_id: int) -> dict[str, Any]:
    services.refund_sale(db.session, current_identity().store_id, sale_id)
    return {"result": "success", "message": services.REFUNDED_MESSAGE}
