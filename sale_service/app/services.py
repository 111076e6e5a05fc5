"""Payment use-cases: plain functions over a session and an order gateway (testable without HTTP).

Exactly-once protocol between sale and order (each step idempotent, in this order):

1. ``pending`` sale row committed (one live sale per order: a partial unique index decides races);
2. order service ``pay`` with that sale id (idempotent for the same sale id, so it is retried);
3. sale ``completed`` with the order's ``paid_business_date``.

A crash or timeout between 2 and 3 leaves a ``pending`` row whose id is the order's
``paid_sale_id``; a retry of the payment of that table, or the recovery pass, asks the order
service and completes it. A sale is only aborted when the order is definitively not paid by it
(another sale, cancelled, unknown) or when it is still open long after the last pay call for that
sale (nothing can land any more). So once a request answered success, the order is paid by that
sale; and a paid order always has a sale row that ends ``completed``.

Workers (requests, recovery) claim a pending sale with a lease (``lease_until``), a conditional
UPDATE, so one pending sale is worked on by one worker at a time and concurrent duplicate payments
of a table get a clean ``failed``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from salesync_common.errors import ApiError, Conflict, NotFound, UpstreamError
from salesync_common.http import ServiceClient, expect_ok
from salesync_common.timeutil import business_date, iso, utcnow

from .models import ABORTED, COMPLETED, PENDING, Sale

log = logging.getLogger(__name__)

# Longer than any request's work on a sale (3 pay attempts of 5 s + backoff, plus DB writes).
LEASE = timedelta(seconds=60)
# A pay call started this long ago can no longer land in the order service (its own statement
# timeout and outbound calls are far shorter): an order still open after that was not paid by it.
PAY_QUIET = timedelta(seconds=120)
RECOVERY_MIN_AGE = timedelta(seconds=60)
RECOVERY_BATCH = 100

PAID_MESSAGE = "결제 등록 성공"
FAILED_MESSAGE = "결제 등록 실패"
MISMATCH_MESSAGE = "결제 금액이 주문 금액과 다릅니다."
REFUNDED_MESSAGE = "결제 취소 성공"

_LABELS = {"카드": "card", "card": "card", "현금": "cash", "cash": "cash"}


def normalise_payment_type(label: str) -> str:
    """The client sends "카드"/"현금" (the load tests "card"); any other label is "other"."""
    return _LABELS.get(label.strip().lower(), "other")


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
    def open_order(self, store_id: int, table_no: int) -> dict[str, Any] | None: ...

    def pay(
        self, store_id: int, order_id: int, sale_id: int, total_price: int, tz: str
    ) -> PayAnswer: ...

    def order(self, store_id: int, order_id: int) -> dict[str, Any] | None: ...


class OrderClient:
    """``OrderGateway`` over the order service's internal HTTP API (docs/internal-api.md)."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    def open_order(self, store_id: int, table_no: int) -> dict[str, Any] | None:
        response = self._client.get(f"/internal/stores/{store_id}/tables/{table_no}/open-order")
        body = expect_ok(response, "order")
        order = body.get("order") if isinstance(body, dict) else None
        return order if isinstance(order, dict) else None

    def pay(
        self, store_id: int, order_id: int, sale_id: int, total_price: int, tz: str
    ) -> PayAnswer:
        # Idempotent for the same sale id on the order side: safe to retry on timeouts.
        response = self._client.post(
            f"/internal/stores/{store_id}/orders/{order_id}/pay",
            params={"tz": tz},
            json={"sale_id": sale_id, "total_price": total_price},
            idempotent=True,
        )
        if response.status in (404, 409) and isinstance(response.body, dict):
            return PayAnswer(response.status, response.body)
        return PayAnswer(response.status, expect_ok(response, "order"))

    def order(self, store_id: int, order_id: int) -> dict[str, Any] | None:
        response = self._client.get(f"/internal/stores/{store_id}/orders/{order_id}")
        if response.status == 404:
            return None
        return expect_ok(response, "order")


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
) -> PayOutcome:
    """Check out the table's open order: exactly one completed sale per paid order."""
    order = orders.open_order(store_id, table_no)
    if order is None:
        # Nothing open: maybe our own earlier attempt paid it and died before answering.
        return _resume_table(session, orders, store_id, table_no)
    server_total = int(order["total_price"])
    if client_total != server_total:
        raise total_mismatch(server_total)
    order_id = int(order["order_id"])
    sale_id = _start_sale(
        session,
        store_id=store_id,
        order_id=order_id,
        table_no=table_no,
        total_price=server_total,
        payment_label=payment_label,
        tz=tz,
    )
    if sale_id is None:
        return FAILED  # another payment of this order is in flight or done
    return _pay_and_complete(session, orders, store_id, order_id, sale_id, server_total, tz)


def _start_sale(
    session: Session,
    *,
    store_id: int,
    order_id: int,
    table_no: int,
    total_price: int,
    payment_label: str,
    tz: str,
) -> int | None:
    """Commit a pending sale for the order (or take over an abandoned one); None if taken."""
    label = payment_label.strip()[:50]
    fields = {
        "total_price": total_price,
        "payment_type": normalise_payment_type(label),
        "payment_label": label,
    }
    for _ in range(2):
        now = utcnow()
        sale = Sale(
            store_id=store_id,
            order_id=order_id,
            table_no=table_no,
            status=PENDING,
            business_date=business_date(now, tz),
            created_at=now,
            lease_until=now + LEASE,
            pay_attempted_at=now,
            **fields,
        )
        session.add(sale)
        try:
            session.commit()  # the partial unique index decides concurrent payments
            return sale.id
        except IntegrityError:
            session.rollback()
        live = session.execute(
            select(Sale.id, Sale.status).where(Sale.order_id == order_id, Sale.status != ABORTED)
        ).first()
        if live is None:
            continue  # the other sale was aborted meanwhile: try once more
        if live.status != PENDING:
            return None
        # An earlier attempt left it pending (timeout, crash): finish it under this request.
        if _claim(session, live.id, now, pay_attempted_at=now, **fields):
            return live.id
        return None
    return None


def _pay_and_complete(
    session: Session,
    orders: OrderGateway,
    store_id: int,
    order_id: int,
    sale_id: int,
    total_price: int,
    tz: str,
) -> PayOutcome:
    try:
        answer = orders.pay(store_id, order_id, sale_id, total_price, tz)
    except BaseException:
        # 503/504 (or worse): the order may or may not be paid; stay pending for a retry/recovery.
        _release(session, sale_id)
        raise
    if answer.status == 200 and answer.body.get("paid_sale_id") == sale_id:
        try:
            completed = _complete(session, sale_id, answer.body)
        except BaseException:
            _release(session, sale_id)  # best effort: lets a retry finish it at once
            raise
        return PayOutcome(sale_id) if completed else FAILED
    if answer.status == 409 and answer.code == "total_changed":
        _abort(session, sale_id)
        raise total_mismatch(int(answer.body.get("total_price", 0)))
    if answer.status in (404, 409):  # not payable (cancelled, paid by another) or gone
        _abort(session, sale_id)
        return FAILED
    _release(session, sale_id)
    log.warning("order pay answered %s without this sale", answer.status)
    raise UpstreamError(
        "order 서비스가 올바르지 않은 응답을 보냈습니다.",
        status=502,
        code="bad_gateway",
        extra={"dependency": "order"},
    )


def _resume_table(
    session: Session, orders: OrderGateway, store_id: int, table_no: int
) -> PayOutcome:
    now = utcnow()
    candidates = session.execute(
        select(Sale.id, Sale.order_id)
        .where(
            Sale.store_id == store_id,
            Sale.table_no == table_no,
            Sale.status == PENDING,
            or_(Sale.lease_until.is_(None), Sale.lease_until < now),
        )
        .order_by(Sale.id.desc())
        .limit(3)
    ).all()
    session.commit()
    for candidate in candidates:
        if not _claim(session, candidate.id, now):
            continue  # someone else (a concurrent retry, the recovery pass) is on it
        if settle(session, orders, store_id, candidate.order_id, candidate.id, now) == COMPLETED:
            return PayOutcome(candidate.id)
    return FAILED


def settle(
    session: Session,
    orders: OrderGateway,
    store_id: int,
    order_id: int,
    sale_id: int,
    now: datetime,
) -> str:
    """Finish a claimed pending sale from the order's state; returns the sale's status after."""
    try:
        state = orders.order(store_id, order_id)
    except BaseException:
        _release(session, sale_id)
        raise
    if state is not None and state.get("status") == "paid" and state.get("paid_sale_id") == sale_id:
        return COMPLETED if _complete(session, sale_id, state) else _status(session, sale_id)
    if state is not None and state.get("status") == "open":
        attempted = session.scalar(select(Sale.pay_attempted_at).where(Sale.id == sale_id))
        if attempted is not None and _aware(attempted) > now - PAY_QUIET:
            _release(session, sale_id)  # a pay call for this sale might still land: not yet
            return PENDING
    _abort(session, sale_id)  # paid by another sale, cancelled, unknown, or never paid
    return ABORTED


def _claim(session: Session, sale_id: int, now: datetime, **changes: Any) -> bool:
    result = session.execute(
        update(Sale)
        .where(
            Sale.id == sale_id,
            Sale.status == PENDING,
            or_(Sale.lease_until.is_(None), Sale.lease_until < now),
        )
        .values(lease_until=now + LEASE, **changes)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1


def _release(session: Session, sale_id: int) -> None:
    try:
        session.rollback()
        session.execute(
            update(Sale)
            .where(Sale.id == sale_id, Sale.status == PENDING)
            .values(lease_until=None)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    except Exception:  # the lease expires by itself; never mask the original failure
        session.rollback()
        log.warning("could not release the lease of a pending sale")


def _complete(session: Session, sale_id: int, paid: dict[str, Any]) -> bool:
    now = utcnow()
    values: dict[str, Any] = {
        "status": COMPLETED,
        "completed_at": now,
        "lease_until": None,
        "paid_at": _parse_moment(paid.get("paid_at")) or now,
    }
    if paid.get("paid_business_date"):
        values["business_date"] = date.fromisoformat(str(paid["paid_business_date"]))
    if isinstance(paid.get("total_price"), int):
        values["total_price"] = paid["total_price"]
    result = session.execute(
        update(Sale)
        .where(Sale.id == sale_id, Sale.status == PENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1 or _status(session, sale_id) == COMPLETED


def _abort(session: Session, sale_id: int) -> None:
    session.execute(
        update(Sale)
        .where(Sale.id == sale_id, Sale.status == PENDING)
        .values(status=ABORTED, aborted_at=utcnow(), lease_until=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def _status(session: Session, sale_id: int) -> str:
    status = session.scalar(select(Sale.status).where(Sale.id == sale_id))
    session.commit()
    return str(status)


def recover_pending(
    session: Session,
    orders: OrderGateway,
    *,
    older_than: timedelta = RECOVERY_MIN_AGE,
    now: datetime | None = None,
) -> dict[str, int]:
    """Settle pending sales nobody works on (crashed requests): ask the order who paid it."""
    now = now or utcnow()
    rows = session.execute(
        select(Sale.id, Sale.store_id, Sale.order_id)
        .where(
            Sale.status == PENDING,
            Sale.created_at < now - older_than,
            or_(Sale.lease_until.is_(None), Sale.lease_until < now),
        )
        .order_by(Sale.id)
        .limit(RECOVERY_BATCH)
    ).all()
    session.commit()
    counts = {COMPLETED: 0, ABORTED: 0, PENDING: 0}
    for row in rows:
        if not _claim(session, row.id, now):
            continue
        counts[settle(session, orders, row.store_id, row.order_id, row.id, now)] += 1
    if counts[COMPLETED] or counts[ABORTED]:
        log.info("recovered pending sales: %s", counts)
    return counts


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


def _parse_moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return _aware(moment)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
