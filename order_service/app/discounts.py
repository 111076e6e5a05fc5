"""Order and line discounts: add and remove, each repricing the order in the same transaction.

A discount pricing refuses (above what it applies to: 409 ``discount_exceeds_base``) or that would
bring the total under what was already paid (409 ``below_paid_total``) writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from salesync_common.errors import Conflict, NotFound
from salesync_common.timeutil import utcnow

from . import events
from .models import OPEN, Order, OrderDiscount, OrderLine
from .orders import (
    _check_paid,
    _discount_data,
    _discounts,
    _lines,
    _not_open,
    _serialize_writers,
    price,
)
from .schemas import DiscountIn


def _lock_order(session: Session, store_id: int, order_id: int) -> Order:
    _serialize_writers(session)
    order = session.scalar(
        select(Order)
        .where(Order.id == order_id, Order.store_id == store_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if order is None:
        raise NotFound("존재하지 않는 주문", code="order_not_found")
    if order.status != OPEN:
        raise _not_open(order)
    return order


def _discount_line(lines: Sequence[OrderLine], request: DiscountIn) -> OrderLine:
    if request.line_id is not None:
        matches = [line for line in lines if line.id == request.line_id]
    else:
        matches = [line for line in lines if line.item_id == request.item_id]
    if not matches:
        raise NotFound("주문에 없는 품목입니다.", code="line_not_found")
    if len(matches) > 1:
        raise Conflict(
            "이 품목의 줄이 여러 개입니다: line_id로 지정하세요.",
            code="line_ambiguous",
            extra={"line_ids": [line.id for line in matches]},
        )
    return matches[0]


def _reprice(order: Order, lines: list[OrderLine], discounts: list[OrderDiscount]) -> None:
    """Store the new total (refused when pricing refuses or it falls under the paid total)."""
    total = price(lines, discounts).total
    _check_paid(order, total)
    order.total_price = total
    order.version += 1
    order.updated_at = utcnow()


def add_discount(
    session: Session, store_id: int, order_id: int, request: DiscountIn, staff_id: int | None
) -> None:
    """Add a discount to an open order of the store, in one transaction with its event.

    The order row is locked first, so two terminals take turns and each prices what the other
    committed. Refusals write nothing: 404 ``order_not_found`` (also another store's order),
    409 ``order_not_open``, 404 ``line_not_found``, 409 ``line_ambiguous``, 409
    ``discount_exceeds_base`` (from pricing), 409 ``below_paid_total``.
    """
    try:
        order = _lock_order(session, store_id, order_id)
        lines = _lines(session, order.id)
        discounts = _discounts(session, order.id)
        line = _discount_line(lines, request) if request.scope == "line" else None
        discount = OrderDiscount(
            order_id=order.id,
            store_id=store_id,
            scope=request.scope,
            line_id=line.id if line else None,
            item_id=line.item_id if line else None,
            kind=request.kind,
            value=request.value,
            reason=request.reason.strip(),
            staff_id=staff_id,
            created_at=utcnow(),
        )
        session.add(discount)
        session.flush()
        _reprice(order, lines, [*discounts, discount])
        session.flush()
        data = {"discount": _discount_data(discount), "total": order.total_price}
        events.record_event(session, order, events.DISCOUNT_ADDED, data, staff_id)
        session.commit()
    except BaseException:
        session.rollback()
        raise


def remove_discount(
    session: Session, store_id: int, order_id: int, discount_id: int, staff_id: int | None
) -> None:
    """Remove a discount of an open order (404 ``discount_not_found`` if not this order's)."""
    try:
        order = _lock_order(session, store_id, order_id)
        discounts = _discounts(session, order.id)
        doomed = next((d for d in discounts if d.id == discount_id), None)
        if doomed is None:
            raise NotFound("존재하지 않는 할인", code="discount_not_found")
        lines = _lines(session, order.id)
        _reprice(order, lines, [d for d in discounts if d is not doomed])
        data = {"discount": _discount_data(doomed), "total": order.total_price}
        session.delete(doomed)
        session.flush()
        events.record_event(session, order, events.DISCOUNT_REMOVED, data, staff_id)
        session.commit()
    except BaseException:
        session.rollback()
        raise
