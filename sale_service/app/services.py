"""Payment use-cases: plain functions over a session and an order gateway (testable without HTTP).

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

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import case, distinct, func, select, update
from sqlalchemy.orm import Session

from salesync_common import pricing
from salesync_common.db import rows_matched, upsert_insert
from salesync_common.errors import ApiError, Conflict, NotFound, UpstreamError
from salesync_common.http import ServiceClient, expect_ok
from salesync_common.timeutil import iso, parse_instant, utcnow

from . import shifts
from .models import COMPLETED, MIXED, PENDING, Payment, ReceiptCounter, Refund, RefundTender, Sale

log = logging.getLogger(__name__)

PAID_MESSAGE = "결제 등록 성공"
FAILED_MESSAGE = "결제 등록 실패"
MISMATCH_MESSAGE = "결제 금액이 주문 금액과 다릅니다."
REFUNDED_MESSAGE = "결제 취소 성공"
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


# ---------------------------------------------------------------------------------------------
# The order service, as the sale service needs it.


@dataclass(frozen=True)
class PayAnswer:
    status: int
    body: dict[str, Any]

    @property
    def code(self) -> str | None:
        error = self.body.get("error")
        return error.get("code") if isinstance(error, dict) else None


class OrderGateway(Protocol):
    def pay(self, store_id: int, request: dict[str, Any], tz: str) -> PayAnswer: ...

    def order(self, store_id: int, order_id: int) -> dict[str, Any] | None:
        """The order's detail (docs/internal-api.md), None when the store has no such order."""
        ...


class StoreGateway(Protocol):
    def store(self, store_id: int) -> dict[str, Any]:
        """The store's profile (name, address, business_number)."""
        ...


class OrderClient:
    """``OrderGateway`` over the order service's internal HTTP API (docs/internal-api.md)."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    def pay(self, store_id: int, request: dict[str, Any], tz: str) -> PayAnswer:
        # Exactly once per payment_ref on the order side: safe to retry on timeouts.
        response = self._client.post(
            f"/internal/stores/{store_id}/payments",
            params={"tz": tz},
            json=request,
            idempotent=True,
        )
        if response.status in (404, 409) and isinstance(response.body, dict):
            return PayAnswer(response.status, response.body)
        return PayAnswer(response.status, expect_ok(response, "order"))

    def order(self, store_id: int, order_id: int) -> dict[str, Any] | None:
        response = self._client.get(f"/internal/stores/{store_id}/orders/{order_id}")
        if response.status == 404:
            return None
        body = expect_ok(response, "order")
        return body if isinstance(body, dict) else None


class StoreClient:
    """``StoreGateway`` over the store service's internal HTTP API."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    def store(self, store_id: int) -> dict[str, Any]:
        response = self._client.get(f"/internal/stores/{store_id}")
        if response.status == 404:  # a receipt still prints, without the store's header
            return {}
        body = expect_ok(response, "store")
        return body if isinstance(body, dict) else {}


# ---------------------------------------------------------------------------------------------
# Paying.


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


def _bad_gateway() -> UpstreamError:
    return UpstreamError(
        "order 서비스가 올바르지 않은 응답을 보냈습니다.",
        status=502,
        code="bad_gateway",
        extra={"dependency": "order"},
    )


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
        raise _bad_gateway()
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
        raise _bad_gateway()
    outcome = record_outcome(session, store_id, body, tender, staff_id)
    return payment_view(session, store_id, ref, body, outcome)


@dataclass(frozen=True)
class RecordOutcome:
    sale_id: int | None
    receipt_no: str | None


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
        record_payment(
            session,
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
        if answer.get("status") == "paid":
            completed = complete_sale(
                session,
                payment_ref=answer["payment_ref"],
                store_id=store_id,
                order_id=int(answer["order_id"]),
                table_no=int(answer["table_no"]),
                total=int(answer["total"]),
                pricing_figures=answer.get("pricing"),
                paid_at=parse_instant(answer.get("paid_at")) or now,
                paid_business_date=date.fromisoformat(str(answer["paid_business_date"])),
            )
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
) -> None:
    """Insert the payment unless it is there already (the request or the consumer came first).

    ``shift_id`` is the store's open shift at the first write (the request's or the consumer's).

    When the consumer came first its row lacks the tender details the request knows (label,
    cash handed over, change, card data): the request fills them in.
    """
    details: dict[str, Any] = {
        "tendered": tendered,
        "change": change,
        "card_approval_no": card.approval_no if card else None,
        "card_issuer": card.issuer if card else None,
        "card_installment_months": card.installment_months if card else None,
    }
    insert = upsert_insert(session)(Payment).values(
        payment_ref=payment_ref,
        # the open shift, read FOR SHARE in this transaction (shifts.py: a racing close either
        # waits for this payment and counts it, or makes this find no open shift)
        shift_id=shifts.open_shift_id(session, store_id),
        store_id=store_id,
        order_id=order_id,
        table_no=table_no,
        amount=amount,
        payment_type=payment_type,
        payment_label=payment_label,
        staff_id=staff_id,
        created_at=created_at,
        **details,
    )
    if tendered is None and card is None and payment_label == payment_type:
        session.execute(insert.on_conflict_do_nothing())  # nothing the row could lack
        return
    session.execute(
        insert.on_conflict_do_update(
            index_elements=[Payment.payment_ref],
            set_={"payment_label": payment_label, **details},
            where=Payment.card_approval_no.is_(None) & Payment.tendered.is_(None),
        )
    )


def _figures(pricing_figures: Any, total: int) -> dict[str, int]:
    """The order's pricing figures from the payment answer; without them, all of it VAT-included.

    Orders paid before the order service answered ``pricing`` had no exempt item and no
    discount, so their whole total is taxable. Figures that contradict the total are not
    trusted (logged, without any order data).
    """
    keys = ("subtotal", "discount_total", "taxable_total", "exempt_total", "vat")
    if isinstance(pricing_figures, dict) and all(
        isinstance(pricing_figures.get(key), int) for key in keys
    ):
        figures = {key: int(pricing_figures[key]) for key in keys}
        if (
            figures["taxable_total"] + figures["exempt_total"] == total
            and figures["vat"] == pricing.vat_of(figures["taxable_total"])
            and figures["subtotal"] - figures["discount_total"] == total
        ):
            return figures
        log.warning("payment answer pricing does not add up to its total; using the total")
    return {
        "subtotal": total,
        "discount_total": 0,
        "taxable_total": total,
        "exempt_total": 0,
        "vat": pricing.vat_of(total),
    }


def _tender_of_order(session: Session, store_id: int, order_id: int) -> tuple[str, str]:
    """The sale's ``payment_type``/``payment_label``: the one tender, else ``mixed``."""
    rows = session.execute(
        select(Payment.payment_type, Payment.payment_label)
        .where(Payment.store_id == store_id, Payment.order_id == order_id, Payment.amount > 0)
        .distinct()
    ).all()
    if not rows:  # a zero total: its single payment of 0
        rows = session.execute(
            select(Payment.payment_type, Payment.payment_label)
            .where(Payment.store_id == store_id, Payment.order_id == order_id)
            .distinct()
        ).all()
    types = {row.payment_type for row in rows}
    if len(types) > 1:
        return MIXED, MIXED
    if not types:
        return "other", "other"
    labels = {row.payment_label for row in rows}
    kind = types.pop()
    return kind, labels.pop() if len(labels) == 1 else kind


def issue_receipt_no(session: Session, store_id: int, business_day: date) -> str:
    """The next receipt number of the store's business day: ``YYYYMMDD-NNNN``.

    One upsert on the day's counter row, which stays locked until the caller's transaction
    ends: numbers are issued in commit order, a rolled-back completion gives its number back
    (no gap) and two completions never read the same number (no duplicate).
    """
    insert = upsert_insert(session)(ReceiptCounter).values(
        store_id=store_id, business_date=business_day, last_no=1
    )
    number = session.scalar(
        insert.on_conflict_do_update(
            index_elements=[ReceiptCounter.store_id, ReceiptCounter.business_date],
            set_={"last_no": ReceiptCounter.__table__.c.last_no + 1},
        ).returning(ReceiptCounter.last_no)
    )
    return f"{business_day:%Y%m%d}-{int(number):04d}"


def complete_sale(
    session: Session,
    *,
    payment_ref: str,
    store_id: int,
    order_id: int,
    table_no: int,
    total: int,
    pricing_figures: Any,
    paid_at: datetime,
    paid_business_date: date,
) -> RecordOutcome:
    """The one place a paid order becomes a sale: the sale row, its figures, its receipt number.

    Inserted once (unique per order and per ref) in the caller's transaction, after the
    order's payments rows (its tender is computed from them); only the insert that created the
    sale issues a receipt number, so the request and the consumer never issue two.
    """
    payment_type, payment_label = _tender_of_order(session, store_id, order_id)
    figures = _figures(pricing_figures, total)
    now = utcnow()
    inserted = session.scalar(
        upsert_insert(session)(Sale)
        .values(
            store_id=store_id,
            order_id=order_id,
            table_no=table_no,
            total_price=total,
            payment_type=payment_type,
            payment_label=payment_label,
            status=COMPLETED,
            business_date=paid_business_date,
            created_at=now,
            paid_at=paid_at,
            completed_at=now,
            payment_ref=payment_ref,
            **figures,
        )
        .on_conflict_do_nothing()
        .returning(Sale.id)
    )
    if inserted is not None:
        receipt_no = issue_receipt_no(session, store_id, paid_business_date)
        session.execute(
            update(Sale)
            .where(Sale.id == inserted)
            .values(receipt_no=receipt_no)
            .execution_options(synchronize_session=False)
        )
        return RecordOutcome(int(inserted), receipt_no)
    sale = session.execute(
        select(Sale.id, Sale.receipt_no).where(
            Sale.store_id == store_id, Sale.order_id == order_id, Sale.status == COMPLETED
        )
    ).first()
    if sale is not None:
        return RecordOutcome(int(sale.id), sale.receipt_no)
    # the order's live sale is one the previous protocol left pending
    pending = session.scalar(
        select(Sale.id).where(
            Sale.store_id == store_id, Sale.order_id == order_id, Sale.status == PENDING
        )
    )
    assert pending is not None  # the insert conflicted with a live sale of this order
    complete_legacy_sale(session, int(pending), payment_ref, paid_at, paid_business_date)
    return RecordOutcome(
        int(pending), session.scalar(select(Sale.receipt_no).where(Sale.id == pending))
    )


def complete_legacy_sale(
    session: Session, sale_id: int, payment_ref: str, paid_at: datetime, paid_business_date: date
) -> bool:
    """A sale the previous protocol left pending while its order was paid: complete it.

    Its order had neither options, discounts nor exempt items: the total is taxable.
    """
    now = utcnow()
    result = session.execute(
        update(Sale)
        .where(Sale.id == sale_id, Sale.status == PENDING)
        .values(
            status=COMPLETED,
            completed_at=now,
            paid_at=paid_at,
            business_date=paid_business_date,
            payment_ref=payment_ref,
            subtotal=Sale.total_price,
            taxable_total=Sale.total_price,
            vat=(2 * Sale.total_price + 11) / 22,  # pricing.vat_of, in SQL
        )
        .execution_options(synchronize_session=False)
    )
    if rows_matched(result) != 1:
        return False
    store_id = session.scalar(select(Sale.store_id).where(Sale.id == sale_id))
    assert store_id is not None
    receipt_no = issue_receipt_no(session, int(store_id), paid_business_date)
    session.execute(
        update(Sale)
        .where(Sale.id == sale_id)
        .values(receipt_no=receipt_no)
        .execution_options(synchronize_session=False)
    )
    return True


# ---------------------------------------------------------------------------------------------
# Listing and totals (refunds: ``refunds.py``).


def list_sales(session: Session, store_id: int, tz: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Sale)
        .where(Sale.store_id == store_id, Sale.status == COMPLETED)
        .order_by(Sale.paid_at, Sale.id)
    ).all()
    return [
        {
            "id": sale.id,
            "total_price": sale.total_price,
            "sale_date": iso(sale.paid_at or sale.created_at, tz),
            "payment_type": sale.payment_type,
            "payment_label": sale.payment_label,
            "order_id": sale.order_id,
            "table_no": sale.table_no,
            "status": "refunded" if sale.refunded_at is not None else "completed",
            "refunded": sale.refunded_at is not None,
            "refunded_at": iso(sale.refunded_at, tz) if sale.refunded_at is not None else None,
        }
        for sale in rows
    ]


def _sum(column: Any) -> Any:
    return func.coalesce(func.sum(column), 0)


def daily_totals(session: Session, store_id: int, start: date, end: date) -> dict[str, Any]:
    """Totals over an already validated ``Period`` (ordered, at most 366 days).

    A refund counts on the business day of the sale it refunds. ``sales_volume`` is net of
    refunds and ``payments`` counts the sales not wholly refunded (the first version's
    figures); each day also carries the figures of ``pricing.Figures``. By payment type: what
    each tender paid of the period's sales less what refunds gave back to it (see
    ``refunds.py`` for how a refund of a mixed sale is shared over its tenders).
    """
    in_period = (
        Sale.store_id == store_id,
        Sale.status == COMPLETED,
        Sale.business_date >= start,
        Sale.business_date <= end,
    )
    live = Sale.refunded_at.is_(None)
    sale_rows = session.execute(
        select(
            Sale.business_date,
            _sum(Sale.total_price),
            _sum(case((live, 1), else_=0)),
            _sum(Sale.subtotal),
            _sum(Sale.discount_total),
            _sum(Sale.taxable_total),
            _sum(Sale.exempt_total),
            _sum(Sale.vat),
            func.count(),
        )
        .where(*in_period)
        .group_by(Sale.business_date)
        .order_by(Sale.business_date)
    ).all()
    refund_rows = {
        row[0]: row
        for row in session.execute(
            select(
                Refund.business_date,
                _sum(Refund.amount),
                _sum(Refund.taxable_total),
                _sum(Refund.exempt_total),
                _sum(Refund.vat),
            )
            .where(
                Refund.store_id == store_id,
                Refund.business_date >= start,
                Refund.business_date <= end,
            )
            .group_by(Refund.business_date)
        ).all()
    }
    days = []
    for day, total, live_count, gross, discount, taxable, exempt, vat, count in sale_rows:
        refunded = refund_rows.get(day, (day, 0, 0, 0, 0))
        figures = pricing.Figures(
            gross_sales=int(gross),
            discount_total=int(discount),
            taxable_total=int(taxable),
            exempt_total=int(exempt),
            vat=int(vat),
            order_count=int(count),
        ) + pricing.Figures(
            refund_total=int(refunded[1]),
            taxable_total=-int(refunded[2]),
            exempt_total=-int(refunded[3]),
            vat=-int(refunded[4]),
        )
        days.append(
            {
                "date": day.isoformat(),
                "sales_volume": int(total) - int(refunded[1]),
                "payments": int(live_count),
                "refunded": int(refunded[1]),
                **figures_view(figures),
                "refund_taxable_total": int(refunded[2]),
                "refund_exempt_total": int(refunded[3]),
                "refund_vat": int(refunded[4]),
            }
        )
    paid = session.execute(
        select(
            Payment.payment_type,
            _sum(Payment.amount),
            func.count(distinct(case((live, Sale.id)))),
        )
        .join(Sale, (Sale.order_id == Payment.order_id) & (Sale.store_id == Payment.store_id))
        .where(*in_period)
        .group_by(Payment.payment_type)
    ).all()
    given_back: dict[str, int] = dict(
        session.execute(
            select(RefundTender.payment_type, _sum(RefundTender.amount))
            .join(Refund, Refund.id == RefundTender.refund_id)
            .where(
                Refund.store_id == store_id,
                Refund.business_date >= start,
                Refund.business_date <= end,
            )
            .group_by(RefundTender.payment_type)
        ).all()
    )
    by_type = sorted(
        (
            {
                "payment_type": kind,
                "sales_volume": int(volume) - int(given_back.get(kind, 0)),
                "payments": int(count),
            }
            for kind, volume, count in paid
        ),
        key=lambda row: row["payment_type"],
    )
    return {
        "days": days,
        "by_payment_type": by_type,
        "sales_volume": sum(day["sales_volume"] for day in days),
        "payments": sum(day["payments"] for day in days),
    }


def figures_view(figures: pricing.Figures) -> dict[str, int]:
    return {
        "gross_sales": figures.gross_sales,
        "discount_total": figures.discount_total,
        "refund_total": figures.refund_total,
        "net_sales": figures.net_sales,
        "taxable_total": figures.taxable_total,
        "vat": figures.vat,
        "supply_value": figures.supply_value,
        "exempt_total": figures.exempt_total,
        "order_count": figures.order_count,
    }
