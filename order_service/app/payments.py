"""Payments against an order (called by the sale service): exactly once per ``payment_ref``.

One transaction records the payment, marks the order paid when the balance reaches 0, snapshots
costs from the menu read model, updates the daily totals and writes the ``payment``/``paid``
rows of ``order_events`` (docs/internal-api.md).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from salesync_common import pricing
from salesync_common.db import WriteBatch, prepared
from salesync_common.errors import ApiError, Conflict, NotFound
from salesync_common.timeutil import business_date, iso, utcnow

from . import daily_sales, events, menu
from .models import OPEN, PAID, Order, OrderLine, OrderPayment
from .orders import _discounts, _lines, _serialize_writers, price
from .schemas import PaymentIn

_RECORDED = prepared(
    select(OrderPayment).where(
        OrderPayment.payment_ref == bindparam("ref"),
        OrderPayment.store_id == bindparam("store_id"),
    )
)
_PAYABLE_BY_ID = prepared(
    select(Order)
    .where(Order.store_id == bindparam("store_id"), Order.id == bindparam("order_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_PAYABLE_BY_TABLE = prepared(
    select(Order)
    .where(
        Order.store_id == bindparam("store_id"),
        Order.table_no == bindparam("table_no"),
        Order.status == OPEN,
    )
    .with_for_update()
    .execution_options(populate_existing=True)
)


_ORDERS = Order.__table__
_PAY_ORDER = (
    update(_ORDERS)
    .where(_ORDERS.c.id == bindparam("order_id"))
    .values(
        paid_total=bindparam("new_paid_total"),
        version=bindparam("new_version"),
        updated_at=bindparam("new_updated_at"),
    )
)
_SETTLE_ORDER = _PAY_ORDER.values(
    status=bindparam("new_status"),
    paid_at=bindparam("new_paid_at"),
    paid_business_date=bindparam("new_paid_business_date"),
    paid_hour=bindparam("new_paid_hour"),
)
_SETTLE_LINES = (
    update(OrderLine.__table__)
    .where(OrderLine.__table__.c.id == bindparam("line_id"))
    .values(unit_cost=bindparam("new_unit_cost"), discount=bindparam("new_discount"))
)
# PostgreSQL: every settled line in one UPDATE (its values as arrays), not one per line
_SETTLE_LINES_AT_ONCE = text(
    """
    UPDATE order_lines SET unit_cost = settled.unit_cost, discount = settled.discount
    FROM unnest(CAST(:line_ids AS bigint[]), CAST(:unit_costs AS integer[]),
                CAST(:discounts AS bigint[])) AS settled (id, unit_cost, discount)
    WHERE order_lines.id = settled.id
    """
)
_PAYMENT_VALUES = (
    "payment_ref",
    "store_id",
    "order_id",
    "amount",
    "payment_type",
    "staff_id",
    "created_at",
    "total",
    "paid_total",
    "status",
    "pricing",
)
_INSERT_PAYMENT = insert(OrderPayment.__table__)


def _recorded(session: Session, store_id: int, payment_ref: str) -> OrderPayment | None:
    return session.scalar(_RECORDED, {"ref": payment_ref, "store_id": store_id})


def _figures(priced: pricing.PricedOrder) -> dict[str, int]:
    return {name: value for name, value in priced.totals().items() if name in PRICING_FIELDS}


PRICING_FIELDS = (
    "subtotal",
    "discount_total",
    "total",
    "taxable_total",
    "vat",
    "supply_value",
    "exempt_total",
)


def payment_view(
    payment: OrderPayment, order: Order, tz: str, figures: dict[str, int]
) -> dict[str, Any]:
    """The answer to a payment, as recorded (a replay answers exactly the same).

    ``figures``: the order's pricing as this payment left it (stored on the payment row).
    """
    paid = payment.status == PAID and order.paid_at is not None
    return {
        "order_id": order.id,
        "table_no": order.table_no,
        "payment_ref": payment.payment_ref,
        "amount": payment.amount,
        "total": payment.total,
        "paid_total": payment.paid_total,
        "balance": payment.total - payment.paid_total,
        "status": payment.status,
        "paid_at": iso(order.paid_at, tz) if paid and order.paid_at else None,
        "paid_business_date": (
            order.paid_business_date.isoformat() if paid and order.paid_business_date else None
        ),
        "pricing": figures,
    }


def _replay(session: Session, payment: OrderPayment, tz: str) -> dict[str, Any]:
    order = session.get(Order, payment.order_id)
    assert order is not None  # orders are never deleted
    if payment.pricing is not None:
        figures = json.loads(payment.pricing)
    else:  # recorded before v2 (no discounts then): the order as it is
        figures = _figures(price(_lines(session, order.id), _discounts(session, order.id)))
    answer = payment_view(payment, order, tz, figures)
    session.commit()
    return answer


def _settle_lines(writes: WriteBatch, lines: list[OrderLine]) -> None:
    """Write the lines' frozen cost snapshot and discount (their loaded values)."""
    if writes.batched:
        writes.add(
            _SETTLE_LINES_AT_ONCE,
            {
                "line_ids": [line.id for line in lines],
                "unit_costs": [line.unit_cost for line in lines],
                "discounts": [line.discount for line in lines],
            },
        )
        return
    for line in lines:
        writes.add(
            _SETTLE_LINES,
            {"line_id": line.id, "new_unit_cost": line.unit_cost, "new_discount": line.discount},
        )


def _lock_payable(session: Session, store_id: int, request: PaymentIn) -> Order | None:
    if request.order_id is not None:
        return session.scalar(_PAYABLE_BY_ID, {"store_id": store_id, "order_id": request.order_id})
    return session.scalar(_PAYABLE_BY_TABLE, {"store_id": store_id, "table_no": request.table_no})


def _refusal(order: Order | None, request: PaymentIn) -> ApiError | None:
    """Why ``order`` (the locked payable order, or None) cannot take this payment, if it cannot."""
    if order is None:
        if request.order_id is not None:
            return NotFound("존재하지 않는 주문", code="order_not_found")
        return NotFound("결제할 주문이 없습니다.", code="no_open_order")
    if order.status != OPEN:
        return Conflict("결제할 수 없는 주문입니다.", code="not_payable")
    if request.expected_total is not None and request.expected_total != order.total_price:
        return Conflict(
            "주문 금액이 변경되었습니다.",
            code="total_changed",
            extra={"total_price": order.total_price},
        )
    if request.amount is not None and request.amount > order.balance:
        return Conflict(
            "결제 금액이 잔액보다 큽니다.",
            code="amount_exceeds_balance",
            extra={"balance": order.balance},
        )
    return None


def record_payment(session: Session, store_id: int, request: PaymentIn, tz: str) -> dict[str, Any]:
    """Record one payment against an order, exactly once per ``payment_ref``: one transaction.

    Locks the order, refuses what is not payable (not open: 409 ``not_payable``; no open order
    on the table: 404 ``no_open_order``), a stale client total (409 ``total_changed`` with the
    server total) and more than the balance (409 ``amount_exceeds_balance``). The payment row,
    ``paid_total`` and the ``payment`` event are written together; when the balance reaches 0
    the order is marked paid in the same transaction: unit costs snapshotted from the menu read
    model (no call to the item service), daily item totals updated, ``paid`` event written.
    The same ``payment_ref`` again returns the answer recorded the first time.
    """
    try:
        _serialize_writers(session)
        order = _lock_payable(session, store_id, request)
        refusal = _refusal(order, request)
        if refusal is not None:
            # Read after the lock (a concurrent request with this ref may have committed while
            # we waited for it): a replay answers what was recorded, whatever the order's state
            # now. A replay the order would accept fails on the unique payment_ref instead.
            recorded = _recorded(session, store_id, request.payment_ref)
            if recorded is not None:
                return _replay(session, recorded, tz)
            raise refusal
        assert order is not None  # else refused
        balance = order.balance
        amount = balance if request.amount is None else request.amount
        now = utcnow()
        # every read before the first change: the order is then written with one UPDATE
        lines, costs = menu.lines_with_current_costs(session, store_id, order.id)
        priced = price(lines, _discounts(session, order.id))
        paid_total = order.paid_total + amount
        settled = paid_total == order.total_price
        written: dict[str, Any] = {
            "paid_total": paid_total,
            "version": order.version + 1,
            "updated_at": now,
        }
        if settled:
            discounts = {figures.ref: figures.discount for figures in priced.lines}
            for line in lines:
                if line.item_id in costs:  # else the snapshot taken when the line was written
                    set_committed_value(line, "unit_cost", costs[line.item_id])
                # frozen: daily totals and rebuilds use it
                set_committed_value(line, "discount", discounts[line.id])
            written.update(
                status=PAID,
                paid_at=now,
                paid_business_date=business_date(now, tz),
                paid_hour=daily_sales.local_hour(now, tz),
            )
        payment = OrderPayment(
            payment_ref=request.payment_ref,
            store_id=store_id,
            order_id=order.id,
            amount=amount,
            payment_type=request.payment_type,
            staff_id=request.staff_id,
            created_at=now,
            total=order.total_price,
            paid_total=paid_total,
            status=written.get("status", order.status),
            pricing=json.dumps(_figures(priced), separators=(",", ":")),
        )
        # Every write after the reads, in one round trip on PostgreSQL (db.WriteBatch), by
        # prebuilt Core statements (the ORM's flush of these rows cost more); the payment row
        # first: a replay's duplicate payment_ref stops the batch before anything else runs.
        # The loaded objects are given what was written without becoming dirty.
        writes = WriteBatch(session)
        writes.add(_INSERT_PAYMENT, {name: getattr(payment, name) for name in _PAYMENT_VALUES})
        writes.add(
            _SETTLE_ORDER if settled else _PAY_ORDER,
            {"order_id": order.id, **{f"new_{name}": value for name, value in written.items()}},
        )
        for name, value in written.items():
            set_committed_value(order, name, value)
        if settled and lines:
            _settle_lines(writes, lines)
        if settled:
            daily_sales.record_paid_order(session, order, priced, lines, request.staff_id, writes)
        answer = payment_view(payment, order, tz, _figures(priced))
        changes: list[tuple[str, dict[str, Any]]] = [
            (
                events.PAYMENT,
                {
                    "table_no": order.table_no,
                    "payment_ref": payment.payment_ref,
                    "amount": amount,
                    "payment_type": payment.payment_type,
                    "total": order.total_price,
                    "paid_total": order.paid_total,
                    "balance": order.balance,
                },
            )
        ]
        if settled:
            paid = {
                "table_no": order.table_no,
                "payment_ref": payment.payment_ref,
                "total": order.total_price,
                "paid_total": order.paid_total,
                "paid_at": iso(now, "UTC"),
                "paid_business_date": answer["paid_business_date"],
                # the sale's figures: the consumer completes a sale without asking for them
                "pricing": _figures(priced),
            }
            changes.append((events.PAID, paid))
        events.record_events(session, order, changes, request.staff_id, writes)
        writes.send()
        session.commit()
    except IntegrityError:  # the same payment_ref committed concurrently (another order)
        session.rollback()
        recorded = _recorded(session, store_id, request.payment_ref)
        if recorded is None:
            raise
        return _replay(session, recorded, tz)
    except BaseException:
        session.rollback()
        raise
    return answer
