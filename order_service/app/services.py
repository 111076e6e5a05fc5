"""Order use-cases: plain functions over a session, testable without HTTP.

Item lookups arrive as a ``Catalog`` (the caller reads it from the menu read model, or makes the
one batched call), so nothing here talks to the network and no row lock is held across an HTTP
call. Every write ends with ``events.record_event`` in its own transaction (the audit trail and
the outbox of ``orders.events``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy import false as sa_false
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from salesync_common.db import rows_matched, violates_unique
from salesync_common.errors import Conflict, NotFound, ValidationFailed
from salesync_common.timeutil import business_date, iso, utcnow

from . import events, menu, rollup
from .items import Catalog
from .models import (
    CANCELLED,
    OPEN,
    OPEN_TABLE_INDEX,
    PAID,
    DailyItemSales,
    Order,
    OrderLine,
    OrderPayment,
)
from .schemas import CartLineIn, PaymentIn

MAX_LINE_QUANTITY = 999
OPEN_RETRIES = 5
VERSION_CONFLICT = "다른 단말에서 주문이 변경되었습니다."


@dataclass(frozen=True)
class Written:
    order_id: int
    table_no: int
    version: int


def merge_cart(carts: Iterable[CartLineIn]) -> dict[int, int]:
    """Sum duplicate ``item_id`` entries, keeping first-seen order."""
    wanted: dict[int, int] = {}
    for line in carts:
        wanted[line.item_id] = wanted.get(line.item_id, 0) + line.quantity
    _check_quantities(wanted)
    return wanted


def _check_quantities(quantities: dict[int, int]) -> None:
    too_many = {
        f"carts.item_id={item_id}": f"quantity must be at most {MAX_LINE_QUANTITY}"
        for item_id, quantity in quantities.items()
        if quantity > MAX_LINE_QUANTITY
    }
    if too_many:
        raise ValidationFailed(code="quantity_too_large", fields=too_many)


def _unknown_items(ids: Iterable[int]) -> ValidationFailed:
    return ValidationFailed(
        "존재하지 않는 품목이 포함되어 있습니다.",
        code="unknown_item",
        fields={f"carts.item_id={item_id}": "not a live item of this store" for item_id in ids},
    )


def check_catalog(wanted: dict[int, int], catalog: Catalog, allowed: Iterable[int] = ()) -> None:
    allowed_ids = set(allowed)
    missing = [i for i in wanted if i not in catalog and i not in allowed_ids]
    if missing:
        raise _unknown_items(missing)


def _new_line(order_id: int, item_id: int, quantity: int, catalog: Catalog) -> OrderLine:
    item = catalog[item_id]
    return OrderLine(
        order_id=order_id,
        item_id=item_id,
        item_name=item.name,
        unit_price=item.price,
        unit_cost=item.cost,
        quantity=quantity,
    )


def _lines(session: Session, order_id: int) -> list[OrderLine]:
    return list(session.scalars(select(OrderLine).where(OrderLine.order_id == order_id)))


def _total(lines: Iterable[OrderLine]) -> int:
    return sum(line.unit_price * line.quantity for line in lines)


def _lines_data(lines: Iterable[OrderLine]) -> list[dict[str, Any]]:
    return [
        {
            "item_id": line.item_id,
            "item_name": line.item_name,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
        }
        for line in sorted(lines, key=lambda line: line.item_id)
    ]


def _open_query(store_id: int, table_no: int) -> Any:
    return select(Order).where(
        Order.store_id == store_id, Order.table_no == table_no, Order.status == OPEN
    )


def _serialize_writers(session: Session) -> None:
    """SQLite (embedded mode) has no row locks: take its database write lock up front instead.

    A write statement, even one matching no row, makes this transaction the single writer until
    commit, so the reads that follow see the latest state (what FOR UPDATE gives on PostgreSQL).
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(Order).where(sa_false()).values(version=Order.version))


def _lock_or_open(session: Session, store_id: int, table_no: int, tz: str) -> Order:
    """The table's open order, locked; opened now if the table is free.

    Two terminals opening the same free table race on the partial unique index: the loser's insert
    fails, its savepoint is rolled back and it locks the winner's order instead.
    """
    _serialize_writers(session)
    for _ in range(OPEN_RETRIES):
        order = session.scalar(_open_query(store_id, table_no).with_for_update())
        if order is not None:
            return order
        now = utcnow()
        order = Order(
            store_id=store_id,
            table_no=table_no,
            status=OPEN,
            version=0,  # bumped to 1 by the write that follows
            business_date=business_date(now, tz),
            opened_at=now,
            updated_at=now,
            total_price=0,
        )
        try:
            with session.begin_nested():
                session.add(order)
                session.flush()
        except IntegrityError as exc:
            if not violates_unique(exc, OPEN_TABLE_INDEX, "orders.store_id, orders.table_no"):
                raise
            continue
        return order
    raise Conflict(VERSION_CONFLICT, code="order_busy")


def add_lines(
    session: Session,
    store_id: int,
    table_no: int,
    wanted: dict[int, int],
    catalog: Catalog,
    tz: str,
) -> Written:
    """POST: open the table's order or add to the open one (lines merged by item)."""
    check_catalog(wanted, catalog)
    try:
        order = _lock_or_open(session, store_id, table_no, tz)
        opened = order.version == 0
        lines = {line.item_id: line for line in _lines(session, order.id)}
        for item_id, quantity in wanted.items():
            line = lines.get(item_id)
            if line is None:
                # a new line: snapshot of the item as it is now
                lines[item_id] = _new_line(order.id, item_id, quantity, catalog)
                session.add(lines[item_id])
            else:
                # units added to an existing line keep that line's snapshot (one line per item)
                line.quantity += quantity
        _check_quantities({item_id: line.quantity for item_id, line in lines.items()})
        order.total_price = _total(lines.values())
        order.version += 1
        order.updated_at = utcnow()
        session.flush()
        if opened:
            data = {"table_no": table_no, "business_date": order.business_date.isoformat()}
            events.record_event(session, order, events.OPENED, data)
        events.record_event(session, order, events.LINES_CHANGED, _changed(order, lines.values()))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return Written(order.id, order.table_no, order.version)


def _changed(order: Order, lines: Iterable[OrderLine]) -> dict[str, Any]:
    return {
        "table_no": order.table_no,
        "version": order.version,
        "total_price": order.total_price,
        "lines": _lines_data(lines),
    }


def _version_conflict(session: Session, order_id: int) -> Conflict:
    session.rollback()
    current = session.scalar(select(Order.version).where(Order.id == order_id))
    return Conflict(VERSION_CONFLICT, code="version_conflict", extra={"version": current})


def replace_lines(
    session: Session,
    store_id: int,
    table_no: int,
    wanted: dict[int, int],
    catalog: Catalog,
    tz: str,
    expected_version: int | None = None,
) -> Written | None:
    """PUT: replace the open order's lines; empty ``wanted`` cancels it.

    Returns None when there is no open order and nothing to write. The version read here is the
    one the final conditional UPDATE requires, so a concurrent change turns this write into a 409
    instead of being overwritten silently.
    """
    order = session.scalar(_open_query(store_id, table_no))
    if order is None:
        session.rollback()
        if not wanted:
            return None
        return add_lines(session, store_id, table_no, wanted, catalog, tz)
    read_version = order.version
    if expected_version is not None and expected_version != read_version:
        raise _version_conflict(session, order.id)
    existing = {line.item_id: line for line in _lines(session, order.id)}
    # items already on the order keep their snapshot (and may stay even if retired since)
    check_catalog(wanted, catalog, allowed=existing)
    now = utcnow()
    guard = and_(Order.id == order.id, Order.version == read_version, Order.status == OPEN)
    try:
        if not wanted:
            changes: dict[str, Any] = {"status": CANCELLED, "cancelled_at": now}
        else:
            snapshots = {
                item_id: existing.get(item_id) or _new_line(order.id, item_id, 0, catalog)
                for item_id in wanted
            }
            total = sum(snapshots[i].unit_price * quantity for i, quantity in wanted.items())
            changes = {"total_price": total}
        updated = session.execute(
            update(Order)
            .where(guard)
            .values(version=Order.version + 1, updated_at=now, **changes)
            .execution_options(synchronize_session=False)
        )
        if rows_matched(updated) != 1:
            raise _version_conflict(session, order.id)
        version = read_version + 1
        if wanted:
            for line in existing.values():
                session.delete(line)
            session.flush()
            written = [
                OrderLine(
                    order_id=order.id,
                    item_id=item_id,
                    item_name=snapshots[item_id].item_name,
                    unit_price=snapshots[item_id].unit_price,
                    unit_cost=snapshots[item_id].unit_cost,
                    quantity=quantity,
                )
                for item_id, quantity in wanted.items()
            ]
            session.add_all(written)
            data = {
                "table_no": table_no,
                "version": version,
                "total_price": changes["total_price"],
                "lines": _lines_data(written),
            }
            events.record_event(session, order, events.LINES_CHANGED, data)
        else:
            data = {"table_no": table_no, "version": version, "total_price": order.total_price}
            events.record_event(session, order, events.CANCELLED, data)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return Written(order.id, table_no, read_version + 1)


def cancel_table(session: Session, store_id: int, table_no: int) -> list[int]:
    """Cancel the table's open order (kept with its status and time); the ids cancelled."""
    _serialize_writers(session)
    orders = list(session.scalars(_open_query(store_id, table_no).with_for_update()))
    now = utcnow()
    for order in orders:
        order.status = CANCELLED
        order.cancelled_at = now
        order.updated_at = now
        order.version += 1
    session.flush()
    for order in orders:
        data = {"table_no": table_no, "version": order.version, "total_price": order.total_price}
        events.record_event(session, order, events.CANCELLED, data)
    session.commit()
    return [order.id for order in orders]


def open_orders(
    session: Session, store_id: int, table_no: int | None = None
) -> list[dict[str, Any]]:
    """Open orders of the store (or one table) with their lines: one query, ascending table."""
    query = (
        select(
            Order.id,
            Order.table_no,
            Order.version,
            Order.opened_at,
            Order.total_price,
            OrderLine.item_id,
            OrderLine.item_name,
            OrderLine.quantity,
            OrderLine.unit_price,
        )
        .outerjoin(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.store_id == store_id, Order.status == OPEN)
        .order_by(Order.table_no, OrderLine.item_id)
    )
    if table_no is not None:
        query = query.where(Order.table_no == table_no)
    grouped: dict[int, dict[str, Any]] = {}
    for row in session.execute(query):
        entry = grouped.setdefault(
            row.id,
            {
                "order_id": row.id,
                "table_no": row.table_no,
                "version": row.version,
                "opened_at": row.opened_at,
                "total_price": row.total_price,
                "lines": [],
            },
        )
        if row.item_id is not None:
            entry["lines"].append(
                {
                    "item_id": row.item_id,
                    "item_name": row.item_name,
                    "quantity": row.quantity,
                    "unit_price": row.unit_price,
                }
            )
    return list(grouped.values())


# ---- payment (called by the sale service)


def order_for_store(session: Session, store_id: int, order_id: int) -> Order:
    order = session.scalar(select(Order).where(Order.id == order_id, Order.store_id == store_id))
    if order is None:
        raise NotFound("존재하지 않는 주문", code="order_not_found")
    return order


def _recorded(session: Session, store_id: int, payment_ref: str) -> OrderPayment | None:
    return session.scalar(
        select(OrderPayment).where(
            OrderPayment.payment_ref == payment_ref, OrderPayment.store_id == store_id
        )
    )


def payment_view(payment: OrderPayment, order: Order, tz: str) -> dict[str, Any]:
    """The answer to a payment, as recorded (a replay answers exactly the same)."""
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
    }


def _replay(session: Session, payment: OrderPayment, tz: str) -> dict[str, Any]:
    order = session.get(Order, payment.order_id)
    assert order is not None  # orders are never deleted
    answer = payment_view(payment, order, tz)
    session.commit()
    return answer


def _lock_payable(session: Session, store_id: int, request: PaymentIn) -> Order | None:
    query = select(Order).where(Order.store_id == store_id)
    if request.order_id is not None:
        query = query.where(Order.id == request.order_id)
    else:
        query = query.where(Order.table_no == request.table_no, Order.status == OPEN)
    return session.scalar(query.with_for_update().execution_options(populate_existing=True))


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
        recorded = _recorded(session, store_id, request.payment_ref)
        if recorded is not None:
            return _replay(session, recorded, tz)
        order = _lock_payable(session, store_id, request)
        # A concurrent request with this ref may have committed while we waited for the lock.
        recorded = _recorded(session, store_id, request.payment_ref)
        if recorded is not None:
            return _replay(session, recorded, tz)
        if order is None:
            if request.order_id is not None:
                raise NotFound("존재하지 않는 주문", code="order_not_found")
            raise NotFound("결제할 주문이 없습니다.", code="no_open_order")
        if order.status != OPEN:
            raise Conflict("결제할 수 없는 주문입니다.", code="not_payable")
        if request.expected_total is not None and request.expected_total != order.total_price:
            raise Conflict(
                "주문 금액이 변경되었습니다.",
                code="total_changed",
                extra={"total_price": order.total_price},
            )
        balance = order.balance
        amount = balance if request.amount is None else request.amount
        if amount > balance:
            raise Conflict(
                "결제 금액이 잔액보다 큽니다.",
                code="amount_exceeds_balance",
                extra={"balance": balance},
            )
        now = utcnow()
        order.paid_total += amount
        order.version += 1
        order.updated_at = now
        settled = order.paid_total == order.total_price
        lines: list[OrderLine] = []
        if settled:
            lines = _lines(session, order.id)
            costs = menu.current_costs(session, store_id, [line.item_id for line in lines])
            for line in lines:
                if line.item_id in costs:  # else the snapshot taken when the line was written
                    line.unit_cost = costs[line.item_id]
            order.status = PAID
            order.paid_at = now
            order.paid_business_date = business_date(now, tz)
        payment = OrderPayment(
            payment_ref=request.payment_ref,
            store_id=store_id,
            order_id=order.id,
            amount=amount,
            payment_type=request.payment_type,
            staff_id=request.staff_id,
            created_at=now,
            total=order.total_price,
            paid_total=order.paid_total,
            status=order.status,
        )
        session.add(payment)
        session.flush()
        if settled:
            assert order.paid_business_date is not None
            rollup.record_payment(session, store_id, order.paid_business_date, now, lines)
        answer = payment_view(payment, order, tz)
        events.record_event(
            session,
            order,
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
            request.staff_id,
        )
        if settled:
            events.record_event(
                session,
                order,
                events.PAID,
                {
                    "table_no": order.table_no,
                    "payment_ref": payment.payment_ref,
                    "total": order.total_price,
                    "paid_total": order.paid_total,
                    "paid_at": iso(now, "UTC"),
                    "paid_business_date": answer["paid_business_date"],
                },
                request.staff_id,
            )
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


# ---- reports (called by the dashboard)


def _as_iso(moment: Any) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, str):  # SQLite returns aggregates of timestamps as text
        moment = datetime.fromisoformat(moment)
    return iso(moment, "UTC")


def item_sales(session: Session, store_id: int, start: date, end: date) -> list[dict[str, Any]]:
    """Paid lines by (business day, item): the rows ``pay`` keeps, one small indexed read."""
    rows = session.scalars(
        select(DailyItemSales)
        .where(
            DailyItemSales.store_id == store_id,
            DailyItemSales.business_date >= start,
            DailyItemSales.business_date <= end,
        )
        .order_by(DailyItemSales.business_date, DailyItemSales.item_id)
    )
    return [
        {
            "date": row.business_date.isoformat(),
            "item_id": row.item_id,
            "item_name": row.item_name,
            "quantity": row.quantity,
            "sales_volume": row.sales_volume,
            "cost_total": row.cost_total,
            "uncosted_quantity": row.uncosted_quantity,
            "uncosted_first_paid_at": _as_iso(row.uncosted_first_paid_at),
        }
        for row in rows
    ]
