"""Order use-cases: plain functions over a session, testable without HTTP.

Item lookups arrive as a ``Catalog`` (the caller makes the one batched call), so nothing here
talks to the network and no row lock is held across an HTTP call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy import false as sa_false
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from salesync_common.db import violates_unique
from salesync_common.errors import Conflict, NotFound, ValidationFailed
from salesync_common.timeutil import business_date, iso, utcnow

from . import rollup
from .items import Catalog
from .models import CANCELLED, OPEN, OPEN_TABLE_INDEX, PAID, DailyItemSales, Order, OrderLine
from .schemas import CartLineIn

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
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return Written(order.id, order.table_no, order.version)


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
        if updated.rowcount != 1:
            raise _version_conflict(session, order.id)
        if wanted:
            for line in existing.values():
                session.delete(line)
            session.flush()
            for item_id, quantity in wanted.items():
                snapshot = snapshots[item_id]
                session.add(
                    OrderLine(
                        order_id=order.id,
                        item_id=item_id,
                        item_name=snapshot.item_name,
                        unit_price=snapshot.unit_price,
                        unit_cost=snapshot.unit_cost,
                        quantity=quantity,
                    )
                )
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


def paid_view(order: Order, tz: str) -> dict[str, Any]:
    assert order.paid_at is not None and order.paid_business_date is not None
    return {
        "order_id": order.id,
        "status": order.status,
        "paid_sale_id": order.paid_sale_id,
        "paid_at": iso(order.paid_at, tz),
        "paid_business_date": order.paid_business_date.isoformat(),
        "total_price": order.total_price,
    }


def pay(
    session: Session,
    store_id: int,
    order_id: int,
    sale_id: int,
    total_price: int,
    tz: str,
    lookup: Callable[[list[int]], Catalog],
) -> Order:
    """Mark the open order paid by ``sale_id`` (the same ``sale_id`` again is a no-op).

    The unit costs in effect now are fetched with one batched call *before* the row lock, so the
    lock is held for a few statements only; retired items keep their earlier snapshot.
    """
    order = order_for_store(session, store_id, order_id)
    catalog: Catalog = {}
    if order.status == OPEN:
        item_ids = list(
            session.scalars(select(OrderLine.item_id).where(OrderLine.order_id == order_id))
        )
        session.commit()  # end the read transaction: nothing is held during the HTTP call
        catalog = lookup(item_ids)
    try:
        _serialize_writers(session)
        order = session.scalar(
            select(Order)
            .where(Order.id == order_id, Order.store_id == store_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert order is not None  # orders are never deleted
        if order.status == PAID and order.paid_sale_id == sale_id:
            session.commit()  # already paid by this sale: the retry is a no-op
            return order
        if order.status != OPEN:
            raise Conflict("결제할 수 없는 주문입니다.", code="not_payable")
        if order.total_price != total_price:
            raise Conflict(
                "주문 금액이 변경되었습니다.",
                code="total_changed",
                extra={"total_price": order.total_price},
            )
        lines = _lines(session, order.id)
        for line in lines:
            item = catalog.get(line.item_id)
            if item is not None:
                line.unit_cost = item.cost
        now = utcnow()
        order.status = PAID
        order.paid_at = now
        order.paid_business_date = business_date(now, tz)
        order.paid_sale_id = sale_id
        order.updated_at = now
        order.version += 1
        session.flush()
        rollup.record_payment(session, store_id, order.paid_business_date, now, lines)
        session.commit()
    except IntegrityError as exc:  # this sale id already paid another order
        session.rollback()
        raise Conflict("이미 다른 주문에 사용된 결제입니다.", code="not_payable") from exc
    except BaseException:
        session.rollback()
        raise
    return order


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
