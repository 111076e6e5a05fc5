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
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from salesync_common.errors import ApiError, Conflict, NotFound, UpstreamError
from salesync_common.http import ServiceClient, expect_ok
from salesync_common.timeutil import iso, parse_instant, utcnow

from .models import COMPLETED, PENDING, Payment, Sale

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


# ---------------------------------------------------------------------------------------------
# Paying a table.


@dataclass(frozen=True)
class PayOutcome:
    sale_id: int | None

    @property
    def success(self) -> bool:
        return self.sale_id is not None


FAILED = PayOutcome(None)


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
    """Pay the table's open order in full: one order call, then one transaction here."""
    label = payment_label.strip()[:50]
    payment_type = normalise_payment_type(label)
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
        raise UpstreamError(
            "order 서비스가 올바르지 않은 응답을 보냈습니다.",
            status=502,
            code="bad_gateway",
            extra={"dependency": "order"},
        )
    return PayOutcome(record_outcome(session, store_id, body, payment_type, label, staff_id))


def record_outcome(
    session: Session,
    store_id: int,
    answer: dict[str, Any],
    payment_type: str,
    payment_label: str,
    staff_id: int | None,
) -> int | None:
    """Write what the order service recorded, in one transaction; the sale id once paid."""
    try:
        now = utcnow()
        record_payment(
            session,
            payment_ref=answer["payment_ref"],
            store_id=store_id,
            order_id=int(answer["order_id"]),
            table_no=int(answer["table_no"]),
            amount=int(answer["amount"]),
            payment_type=payment_type,
            payment_label=payment_label,
            staff_id=staff_id,
            created_at=now,
        )
        sale_id = None
        if answer.get("status") == "paid":
            sale_id = record_sale(
                session,
                payment_ref=answer["payment_ref"],
                store_id=store_id,
                order_id=int(answer["order_id"]),
                table_no=int(answer["table_no"]),
                total=int(answer["total"]),
                paid_at=parse_instant(answer.get("paid_at")) or now,
                paid_business_date=date.fromisoformat(str(answer["paid_business_date"])),
            )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return sale_id


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


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
) -> None:
    """Insert the payment unless it is there already (the request or the consumer came first)."""
    session.execute(
        _insert(session)(Payment)
        .values(
            payment_ref=payment_ref,
            store_id=store_id,
            order_id=order_id,
            table_no=table_no,
            amount=amount,
            payment_type=payment_type,
            payment_label=payment_label,
            staff_id=staff_id,
            created_at=created_at,
        )
        .on_conflict_do_nothing()
    )


def record_sale(
    session: Session,
    *,
    payment_ref: str,
    store_id: int,
    order_id: int,
    table_no: int,
    total: int,
    paid_at: datetime,
    paid_business_date: date,
) -> int:
    """The order's sale: inserted once (unique per order and per ref); its id either way.

    The tender comes from the settling payment's row (written first, in the same transaction).
    """
    payment = session.get(Payment, payment_ref)
    now = utcnow()
    session.execute(
        _insert(session)(Sale)
        .values(
            store_id=store_id,
            order_id=order_id,
            table_no=table_no,
            total_price=total,
            payment_type=payment.payment_type if payment else "other",
            payment_label=payment.payment_label if payment else "other",
            status=COMPLETED,
            business_date=paid_business_date,
            created_at=now,
            paid_at=paid_at,
            completed_at=now,
            payment_ref=payment_ref,
        )
        .on_conflict_do_nothing()
    )
    sale_id = session.scalar(
        select(Sale.id).where(
            Sale.store_id == store_id, Sale.order_id == order_id, Sale.status == COMPLETED
        )
    )
    if sale_id is None:  # the order's live sale is one the previous protocol left pending
        sale_id = session.scalar(
            select(Sale.id).where(
                Sale.store_id == store_id, Sale.order_id == order_id, Sale.status == PENDING
            )
        )
        assert sale_id is not None  # the insert conflicted with a live sale of this order
        complete_legacy_sale(session, sale_id, payment_ref, paid_at, paid_business_date)
    return int(sale_id)


def complete_legacy_sale(
    session: Session, sale_id: int, payment_ref: str, paid_at: datetime, paid_business_date: date
) -> bool:
    """A sale the previous protocol left pending while its order was paid: complete it."""
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
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


# ---------------------------------------------------------------------------------------------
# Listing, refunds and totals.


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


def refund_sale(session: Session, store_id: int, sale_id: int) -> None:
    """Void a completed sale of the store: recorded (refunded_at), never deleted; once only."""
    result = session.execute(
        update(Sale)
        .where(
            Sale.id == sale_id,
            Sale.store_id == store_id,
            Sale.status == COMPLETED,
            Sale.refunded_at.is_(None),
        )
        .values(refunded_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if result.rowcount == 1:
        return
    status = session.execute(
        select(Sale.status, Sale.refunded_at).where(Sale.id == sale_id, Sale.store_id == store_id)
    ).first()
    session.commit()
    if status is None or status.status != COMPLETED:
        raise NotFound("존재하지 않는 결제 내역", code="sale_not_found")
    raise Conflict("이미 취소된 결제입니다.", code="already_refunded")


def daily_totals(session: Session, store_id: int, start: date, end: date) -> dict[str, Any]:
    """Totals over an already validated ``Period`` (ordered, at most 366 days)."""
    live = Sale.refunded_at.is_(None)
    net = func.coalesce(func.sum(case((live, Sale.total_price), else_=0)), 0)
    payments = func.coalesce(func.sum(case((live, 1), else_=0)), 0)
    refunded = func.coalesce(func.sum(case((live, 0), else_=Sale.total_price)), 0)
    scope = (
        Sale.store_id == store_id,
        Sale.status == COMPLETED,
        Sale.business_date >= start,
        Sale.business_date <= end,
    )
    days = session.execute(
        select(Sale.business_date, net, payments, refunded)
        .where(*scope)
        .group_by(Sale.business_date)
        .order_by(Sale.business_date)
    ).all()
    by_type = session.execute(
        select(Sale.payment_type, net, payments)
        .where(*scope)
        .group_by(Sale.payment_type)
        .order_by(Sale.payment_type)
    ).all()
    return {
        "days": [
            {
                "date": day.isoformat(),
                "sales_volume": int(volume),
                "payments": int(count),
                "refunded": int(refund),
            }
            for day, volume, count, refund in days
        ],
        "by_payment_type": [
            {"payment_type": kind, "sales_volume": int(volume), "payments": int(count)}
            for kind, volume, count in by_type
        ],
        "sales_volume": sum(int(row[1]) for row in days),
        "payments": sum(int(row[2]) for row in days),
    }
