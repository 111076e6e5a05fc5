"""Public sale endpoints: the first contract's (pay, list, void) exactly as it describes them, and
v2's split payments, partial refunds and receipts (pos-v2.md)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from pydantic import TypeAdapter, ValidationError

from salesync_common.api import endpoint
from salesync_common.auth import current_identity
from salesync_common.idempotency import HEADER as IDEMPOTENCY_HEADER

from .. import payments, receipts, refunds, sales
from ..clients import order_gateway, store_gateway
from ..models import db
from ..schemas import (
    PaidOut,
    PayIn,
    PaymentIn,
    PaymentOut,
    ReceiptNo,
    ReceiptOut,
    RefundIn,
    RefundOut,
    ResultOut,
    SalesOut,
    TotalMismatchOut,
)

bp = Blueprint("sales", __name__, url_prefix="/sales")
TAGS = ("sales",)
PAID_MESSAGE = "결제 등록 성공"
FAILED_MESSAGE = "결제 등록 실패"
REFUNDED_MESSAGE = "결제 취소 성공"


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
        "the order service; the same `Idempotency-Key` names the same payment (the same sale). "
        "With the store's `require_open_shift` on and no open shift: 409 `no_open_shift`, "
        "nothing paid."
    ),
)
def pay(body: PayIn) -> tuple[dict[str, Any], int]:
    identity = current_identity()
    outcome = payments.pay_table(
        db.session(),
        order_gateway(),
        store_id=identity.store_id,
        tz=identity.tz,
        table_no=body.table_no,
        payment_label=body.payment_type,
        client_total=body.total_price,
        idempotency_key=_idempotency_key(),
        staff_id=identity.staff_id,
    )
    if not outcome.success:
        return {"result": "failed", "message": FAILED_MESSAGE}, 200
    return {"result": "success", "message": PAID_MESSAGE, "id": outcome.sale_id}, 201


@bp.get("/")
@endpoint(
    "The store's sales, oldest first (refunded ones flagged)",
    permission="reports",
    responses={200: SalesOut},
    tags=TAGS,
)
def list_sales() -> dict[str, Any]:
    identity = current_identity()
    return {"sales": sales.list_sales(db.session(), identity.store_id, identity.tz)}


@bp.delete("/<id:sale_id>")
@endpoint(
    "Refund (void) one of the store's sales",
    permission="refund",
    responses={200: ResultOut},
    extra_errors=(409,),
    tags=TAGS,
)
def refund(sale_id: int) -> dict[str, Any]:
    identity = current_identity()
    refunds.void_sale(db.session(), order_gateway(), identity.store_id, sale_id, identity.tz)
    return {"result": "success", "message": REFUNDED_MESSAGE}


def _idempotency_key() -> str | None:
    return (request.headers.get(IDEMPOTENCY_HEADER) or "").strip() or None


@bp.post("/payments")
@endpoint(
    "Take one payment of an order (partial, card/cash/other; exactly once per key)",
    permission="payments",
    body=PaymentIn,
    responses={201: PaymentOut},
    idempotent=True,
    extra_errors=(404, 409, 502, 503, 504),
    tags=TAGS,
    description=(
        "Pays `amount` of the order (`order_id`, or the open order of `table_no`) until its "
        "balance is 0; then the order is paid, the sale is written (`sale_id`, the id `GET "
        "/sales/` lists) and its receipt numbered (`receipt_no`). Card and other above the "
        "balance: 409 `amount_exceeds_balance` (with `balance`), nothing recorded. Cash above "
        "the balance is applied up to it; `change` = `tendered` (else `amount`) - applied. Two "
        "terminals paying the last balance: one 201, the other 409. The same `Idempotency-Key` "
        "is the same payment (replayed answer). `card.approval_no` is stored and shown as "
        "`****` + its last 4 digits. `payment_id` is the payment's reference in the order's "
        "ledger (`payments[].payment_ref` of `GET /orders/<order_id>`). While a shift is open "
        "the payment is recorded in it; with `require_open_shift` on and none open: 409 "
        "`no_open_shift`, nothing recorded."
    ),
)
def take_payment(body: PaymentIn) -> tuple[dict[str, Any], int]:
    identity = current_identity()
    card = (
        payments.Card(body.card.approval_no, body.card.issuer, body.card.installment_months)
        if body.card is not None
        else None
    )
    target = (
        {"order_id": body.order_id} if body.order_id is not None else {"table_no": body.table_no}
    )
    answer = payments.take_payment(
        db.session(),
        order_gateway(),
        store_id=identity.store_id,
        tz=identity.tz,
        target={key: value for key, value in target.items() if value is not None},
        amount=body.amount,
        tender=payments.Tender(body.payment_type, body.payment_type, body.tendered, card),
        idempotency_key=_idempotency_key(),
        staff_id=identity.staff_id,
    )
    return answer, 201


@bp.post("/<id:sale_id>/refunds")
@endpoint(
    "Refund part or the rest of a sale (by amount or by lines)",
    permission="refund",
    body=RefundIn,
    responses={201: RefundOut},
    extra_errors=(404, 409, 502, 503, 504),
    tags=TAGS,
    description=(
        "`amount` (won) or `lines` (`[{line_id, quantity}]` of the order's lines), neither: "
        "everything not refunded yet. Never more than was paid less earlier refunds (409 "
        "`refund_exceeds_paid`). Taxable, exempt and VAT of the refund come from the pricing "
        "rules (a line's units at their share of its net). `payment_type` names the tender "
        "given back (409 `refund_exceeds_tender` above what it paid); without it a mixed sale "
        "is refunded to its tenders in reverse order of payment. Counts on the sale's business "
        "day in the daily totals. `staff_id` is the caller's."
    ),
)
def refund_part(sale_id: int, body: RefundIn) -> tuple[dict[str, Any], int]:
    identity = current_identity()
    answer = refunds.refund_sale(
        db.session(),
        order_gateway(),
        store_id=identity.store_id,
        sale_id=sale_id,
        request=refunds.RefundRequest(
            reason=body.reason,
            amount=body.amount,
            lines=(
                {line.line_id: line.quantity for line in body.lines}
                if body.lines is not None
                else None
            ),
            payment_type=body.payment_type,
        ),
        staff_id=identity.staff_id,
        tz=identity.tz,
    )
    return answer, 201


@bp.get("/receipts/<receipt_no>")
@endpoint(
    "A receipt by number (each read after the first is a reprint)",
    permission="payments",
    responses={200: ReceiptOut},
    extra_errors=(404, 502, 503, 504),
    tags=TAGS,
    description=(
        "`receipt_no` is `YYYYMMDD-NNNN`: per store and business day of payment, sequential, "
        "without gaps. Reading a receipt prints it: the first read is the original "
        "(`reprint_count` 0), every later read here or at `GET /orders/<order_id>/receipt` is "
        "a reprint and increments `reprint_count`. Card approval numbers masked (`****5678`)."
    ),
)
def receipt(receipt_no: str) -> dict[str, Any]:
    identity = current_identity()
    if not _is_receipt_no(receipt_no):
        raise receipts.receipt_not_found()
    return receipts.receipt_by_number(
        db.session(), order_gateway(), store_gateway(), identity.store_id, receipt_no, identity.tz
    )


_RECEIPT_NO = TypeAdapter(ReceiptNo)


def _is_receipt_no(value: str) -> bool:
    try:
        _RECEIPT_NO.validate_python(value)
    except ValidationError:
        return False
    return True
