"""Payments: plain functions over a session and an order gateway (testable without HTTP).

Paying a table is one call to the order service and one transaction here:

1. ``payment_ref`` is derived (a UUID from the store and the request's ``Idempotency-Key``, or a
   random one) and the order service records the payment against the table's open order, exactly
   once per ref, in one transaction (and marks it paid when the balance reaches 0);
2. this service writes its ``payments`` row and, when the order is paid, the ``sales`` row, in
   one transaction keyed by ``payment_ref`` (inserts that do nothing when the row exists).

A crash between 1 and 2 leaves the order paid and no sale yet: the consumer of
``orders.events`` writes the same rows from the ``payment``/``paid`` events (``record_*`` below
are shared by both writers), and a retry with the same ``Idempotency-Key`` gets the same ref,
so the order replays its answer and the retry answers the same sale. Nothing is pending, leased
or recovered: the order's transaction is the only decision, everything after it is idempotent.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from salesync_common.db import WriteBatch, upsert_insert
from salesync_common.errors import ApiError, Conflict, NotFound, bad_gateway
from salesync_common.timeutil import parse_instant, utcnow

from . import shifts
from .clients import OrderGateway
from .models import Payment
from .sales import RecordOutcome, complete_sale

log = logging.getLogger(__name__)

MISMATCH_MESSAGE = "결제 금액이 주문 금액과 다릅니다."
# payment_ref = uuid5(this, "<store_id>:<Idempotency-Key>"): a retry names the same payment
PAYMENT_REF_NAMESPACE = uuid.UUID("2f0b8f4e-6d1a-4c8e-9a57-3b1c2d4e5f60")

_LABELS = {"카드": "card", "card": "card", "현금": "cash", "cash": "cash"}


def normalise_payment_type(label: str) -> str:
    """The client sends "카드"/"현금" (the load tests "card"); any other label is "other"."""
    return _LABELS.get(label.strip().lower(), "other")


def payment_ref(store_id: int, idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(PAYMENT_REF_NAMESPACE, f"{store_id}:{idempotency_key}"))


@dataclass(frozen=True)
class PayOutcome:
    sale_id: int | None

    @property
    def success(self) -> bool:
        return self.sale_id is not None


FAILED = PayOutcome(None)


@dataclass(frozen=True)
class Card:
    approval_no: str
    issuer: str
    installment_months: int


@dataclass(frozen=True)
class Tender:
    """How a payment is made: the tender, the client's label, cash handed over, card data."""

    payment_type: str
    label: str
    tendered: int | None = None
    card: Card | None = None


def mask_approval_no(approval_no: str | None) -> str | None:
    """A card approval number as every answer and log shows it: ``****`` + its last 4."""
    if approval_no is None:
        return None
    return "****" + approval_no[-4:]


def total_mismatch(server_total: int) -> ApiError:
    return Conflict(MISMATCH_MESSAGE, code="total_mismatch", extra={"total_price": server_total})


def pay_table(
    session: Session,
    orders: OrderGateway,
    *,
    store_id: int,
    tz: str,
    table_no: int,
    payment_label: str,
    client_total: int,
    idempotency_key: str | None = None,
    staff_id: int | None = None,
) -> PayOutcome:
    """The first contract: pay the table's open order in full (one order call, one transaction).

    With the store's ``require_open_shift`` on and no open shift: 409 ``no_open_shift`` before
    the order is called (off, the default, keeps the first contract's behaviour).
    """
    label = payment_label.strip()[:50]
    payment_type = normalise_payment_type(label)
    shifts.check_payment_allowed(session, store_id)
    ref = payment_ref(store_id, idempotency_key)
    answer = orders.pay(
        store_id,
        {
            "payment_ref": ref,
            "table_no": table_no,
            "amount": None,  # the first contract pays the whole balance
            "expected_total": client_total,
            "payment_type": payment_type,
            "staff_id": staff_id,
        },
        tz,
    )
    if answer.status == 409 and answer.code == "total_changed":
        raise total_mismatch(int(answer.body.get("total_price", 0)))
    if answer.status in (404, 409):  # no open order, not payable: nothing was recorded
        return FAILED
    body = answer.body
    if answer.status != 200 or body.get("payment_ref") != ref:
        log.warning("order payments answered %s without this payment", answer.status)
        raise bad_gateway("order")
    outcome = record_outcome(session, store_id, body, Tender(payment_type, label), staff_id)
    return PayOutcome(outcome.sale_id)


def take_payment(
    session: Session,
    orders: OrderGateway,
    *,
    store_id: int,
    tz: str,
    target: dict[str, int],
    amount: int,
    tender: Tender,
    idempotency_key: str | None,
    staff_id: int | None,
) -> dict[str, Any]:
    """One payment of an order (v2, ``POST /sales/payments``): partial, any tender.

    The amount applied is ``amount`` but never more than the balance: card and other above the
    balance are refused (409 ``amount_exceeds_balance``, nothing recorded); cash above it is
    applied up to the balance and ``change`` = what was handed over (``tendered``, else
    ``amount``) less what was applied. The order decides the balance under its row lock, so
    of two terminals paying the last balance one wins and the other gets 409. A cash payment
    refused only because it exceeded the balance is sent once more for exactly the balance the
    order reported (the refused call recorded nothing). With ``require_open_shift`` on and no
    open shift: 409 ``no_open_shift``, nothing recorded.
    """
    shifts.check_payment_allowed(session, store_id)
    ref = payment_ref(store_id, idempotency_key)
    if tender.payment_type == "cash" and tender.tendered is None:  # handed over: the amount
        tender = replace(tender, tendered=amount)
    request = {
        "payment_ref": ref,
        **target,
        "amount": amount,
        "payment_type": tender.payment_type,
        "staff_id": staff_id,
    }
    answer = orders.pay(store_id, request, tz)
    if (
        tender.payment_type == "cash"
        and answer.status == 409
        and answer.code == "amount_exceeds_balance"
        and int(answer.body.get("balance") or 0) > 0
    ):
        answer = orders.pay(store_id, {**request, "amount": int(answer.body["balance"])}, tz)
    if answer.status == 404:
        code = answer.code or "order_not_found"
        raise NotFound("결제할 주문이 없습니다.", code=code)
    if answer.status == 409:
        extra = {"balance": answer.body["balance"]} if "balance" in answer.body else None
        messages = {
            "amount_exceeds_balance": "결제 금액이 잔액보다 큽니다.",
            "not_payable": "결제할 수 없는 주문입니다.",
        }
        code = answer.code or "not_payable"
        raise Conflict(messages.get(code, "결제할 수 없습니다."), code=code, extra=extra)
    body = answer.body
    if answer.status != 200 or body.get("payment_ref") != ref:
        log.warning("order payments answered %s without this payment", answer.status)
        raise bad_gateway("order")
    outcome = record_outcome(session, store_id, body, tender, staff_id)
    return payment_view(session, store_id, ref, body, outcome)


def record_outcome(
    session: Session,
    store_id: int,
    answer: dict[str, Any],
    tender: Tender,
    staff_id: int | None,
) -> RecordOutcome:
    """Write what the order service recorded, in one transaction; the sale once paid."""
    try:
        now = utcnow()
        applied = int(answer["amount"])
        given = tender.tendered if tender.tendered is not None else applied
        paid = answer.get("status") == "paid"
        # this payment settled the whole order: it is the order's one tender
        sole_tender = (
            (tender.payment_type, tender.label)
            if paid and applied == int(answer["total"]) and applied > 0
            else None
        )
        # The payment row and the sale travel together; unless the sale's tender must be read
        # from the order's payments first, they are the whole transaction: one message.
        writes = WriteBatch(session, alone=not paid or sole_tender is not None)
        record_payment(
            session,
            writes=writes,
            payment_ref=answer["payment_ref"],
            store_id=store_id,
            order_id=int(answer["order_id"]),
            table_no=int(answer["table_no"]),
            amount=applied,
            payment_type=tender.payment_type,
            payment_label=tender.label,
            staff_id=staff_id,
            created_at=now,
            tendered=tender.tendered,
            change=max(given - applied, 0) if tender.payment_type == "cash" else 0,
            card=tender.card,
        )
        completed = RecordOutcome(None, None)
        if paid:
            completed = complete_sale(
                session,
                writes=writes,
                payment_ref=answer["payment_ref"],
                store_id=store_id,
                order_id=int(answer["order_id"]),
                table_no=int(answer["table_no"]),
                total=int(answer["total"]),
                pricing_figures=answer.get("pricing"),
                paid_at=parse_instant(answer.get("paid_at")) or now,
                paid_business_date=date.fromisoformat(str(answer["paid_business_date"])),
                sole_tender=sole_tender,
            )
        writes.send()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return completed


def payment_view(
    session: Session,
    store_id: int,
    ref: str,
    answer: dict[str, Any],
    outcome: RecordOutcome,
) -> dict[str, Any]:
    """The answer of ``POST /sales/payments`` (card approval number masked)."""
    payment = session.get(Payment, ref)
    session.commit()
    assert payment is not None  # written (or found) by record_outcome
    view: dict[str, Any] = {
        "payment_id": payment.payment_ref,
        "order_id": payment.order_id,
        "table_no": payment.table_no,
        "payment_type": payment.payment_type,
        "amount": payment.amount,
        "tendered": payment.tendered,
        "change": payment.change,
        "card": card_view(payment),
        "staff_id": payment.staff_id,
        "paid_total": int(answer["paid_total"]),
        "balance": int(answer["balance"]),
        "order_status": str(answer["status"]),
    }
    if outcome.sale_id is not None:
        view["sale_id"] = outcome.sale_id
        view["receipt_no"] = outcome.receipt_no
    return view


def card_view(payment: Payment) -> dict[str, Any] | None:
    if payment.payment_type != "card" or payment.card_approval_no is None:
        return None
    return {
        "approval_no": mask_approval_no(payment.card_approval_no),
        "issuer": payment.card_issuer,
        "installment_months": payment.card_installment_months,
    }


def record_payment(
    session: Session,
    *,
    payment_ref: str,
    store_id: int,
    order_id: int,
    table_no: int,
    amount: int,
    payment_type: str,
    payment_label: str,
    staff_id: int | None,
    created_at: datetime,
    tendered: int | None = None,
    change: int = 0,
    card: Card | None = None,
    writes: WriteBatch | None = None,
) -> None:
    """Insert the payment unless it is there already (the request or the consumer came first);
    queued on ``writes`` when given.

    ``shift_id`` is the store's open shift at the first write (the request's or the consumer's).

    When the consumer came first its row lacks the tender details the request knows (label,
    cash handed over, change, card data): the request fills them in.
    """
    row: dict[str, Any] = {
        "payment_ref": payment_ref,
        "shift_store_id": store_id,  # binds shifts.OPEN_SHIFT_FOR_SHARE (the shift_id)
        "store_id": store_id,
        "order_id": order_id,
        "table_no": table_no,
        "amount": amount,
        "payment_type": payment_type,
        "payment_label": payment_label,
        "staff_id": staff_id,
        "created_at": created_at,
        "tendered": tendered,
        "change": change,
        "card_approval_no": card.approval_no if card else None,
        "card_issuer": card.issuer if card else None,
        "card_installment_months": card.installment_months if card else None,
    }
    # nothing the row could lack when the request knows no more than the consumer
    plain = tendered is None and card is None and payment_label == payment_type
    statement = _payment_insert(upsert_insert(session), fill_details=not plain)
    (writes.add if writes is not None else session.execute)(statement, row)


@functools.cache
def _payment_insert(insert: Callable[..., Any], *, fill_details: bool) -> Any:
    """The payment's INSERT, built once per dialect: the open shift (read ``FOR SHARE`` in this
    transaction: shifts.py, a racing close either waits for this payment and counts it, or makes
    this find no open shift) is a subquery of the insert, the rest bound per payment."""
    statement = insert(Payment.__table__).values(shift_id=shifts.OPEN_SHIFT_FOR_SHARE)
    if not fill_details:
        return statement.on_conflict_do_nothing()
    new = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[Payment.payment_ref],
        set_={name: new[name] for name in _TENDER_DETAILS},
        where=Payment.card_approval_no.is_(None) & Payment.tendered.is_(None),
    )


# what only the request knows of a payment (the consumer's row lacks it)
_TENDER_DETAILS = (
    "payment_label",
    "tendered",
    "change",
    "card_approval_no",
    "card_issuer",
    "card_installment_months",
)
