"""Order use-cases: plain functions over a session, testable without HTTP.

Item lookups arrive as a ``Catalog`` (the caller reads it from the menu read model, or makes the
one batched call), so nothing here talks to the network and no row lock is held across an HTTP
call. Every write ends with ``events.record_event`` in its own transaction (the audit trail and
the outbox of ``orders.events``).

Money: every figure of an order comes from ``salesync_common.pricing.price_order`` over its lines
and discounts (:func:`price`); ``orders.total_price`` is its ``total`` (after discounts), stored
in the same transaction as every change. A change that pricing refuses (a discount above what it
applies to: 409 ``discount_exceeds_base``) or that would bring the total under what was already
paid (409 ``below_paid_total``) writes nothing.

Line discounts and edits (PUT): a line keeps its ``line_id`` (and so its discounts) while its
(item, options) stays in the cart; a line the PUT removes takes its line discounts with it (each
gets a ``discount_removed`` event). Percent discounts follow the new quantity; an edit that would
leave an amount discount larger than its base is refused (409 ``discount_exceeds_base``): the
terminal removes the discount first.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy import false as sa_false
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from salesync_common import pricing
from salesync_common.db import rows_matched, violates_unique
from salesync_common.errors import Conflict, NotFound, ValidationFailed
from salesync_common.timeutil import business_date, iso, utcnow

from . import events, menu, rollup
from .items import Catalog
from .models import (
    CANCELLED,
    NO_CATEGORY_KEY,
    OPEN,
    OPEN_TABLE_INDEX,
    OWNER_STAFF_KEY,
    PAID,
    DailyCategorySales,
    DailyItemSales,
    DailyOrderSales,
    Order,
    OrderDiscount,
    OrderLine,
    OrderPayment,
)
from .schemas import CartLineIn, DiscountIn, PaymentIn

MAX_LINE_QUANTITY = 999
OPEN_RETRIES = 5
VERSION_CONFLICT = "다른 단말에서 주문이 변경되었습니다."

# A line of a cart: (item id, sorted option ids). Lines merge only when both are equal.
LineKey = tuple[int, tuple[int, ...]]


@dataclass(frozen=True)
class Written:
    order_id: int
    table_no: int
    version: int


def _field(key: LineKey) -> str:
    item_id, options = key
    suffix = f",options={'+'.join(map(str, options))}" if options else ""
    return f"carts.item_id={item_id}{suffix}"


def _options_invalid(key: LineKey, reason: str) -> Conflict:
    return Conflict(
        "선택한 옵션이 올바르지 않습니다.", code="options_invalid", fields={_field(key): reason}
    )


def merge_cart(carts: Iterable[CartLineIn]) -> dict[LineKey, int]:
    """Sum entries of the same (item, options), keeping first-seen order.

    An option listed twice in one entry is 409 ``options_invalid`` (nothing is read or written).
    """
    wanted: dict[LineKey, int] = {}
    for line in carts:
        options = line.options or []
        key = (line.item_id, tuple(sorted(options)))
        if len(set(options)) != len(options):
            raise _options_invalid(key, "an option is listed twice")
        wanted[key] = wanted.get(key, 0) + line.quantity
    _check_quantities(wanted)
    return wanted


def item_ids(wanted: Iterable[LineKey]) -> list[int]:
    return sorted({item_id for item_id, _ in wanted})


def _check_quantities(quantities: dict[LineKey, int]) -> None:
    too_many = {
        _field(key): f"quantity must be at most {MAX_LINE_QUANTITY}"
        for key, quantity in quantities.items()
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


def check_catalog(
    wanted: dict[LineKey, int], catalog: Catalog, allowed: Iterable[LineKey] = ()
) -> None:
    allowed_keys = set(allowed)
    missing = sorted({k[0] for k in wanted if k[0] not in catalog and k not in allowed_keys})
    if missing:
        raise _unknown_items(missing)


def _key(line: OrderLine) -> LineKey:
    return (line.item_id, tuple(int(o) for o in line.option_key.split(",") if o))


def _option_key(options: Sequence[int]) -> str:
    return ",".join(map(str, sorted(options)))


def _check_orderable(wanted: Iterable[LineKey], catalog: Catalog) -> None:
    sold_out = sorted({k[0] for k in wanted if k[0] in catalog and catalog[k[0]].sold_out})
    if sold_out:
        raise Conflict(
            "품절된 품목이 포함되어 있습니다.",
            code="sold_out",
            fields={f"carts.item_id={item_id}": "sold out" for item_id in sold_out},
        )


def _new_line(order_id: int | None, key: LineKey, quantity: int, catalog: Catalog) -> OrderLine:
    """A new line: the item and its chosen options as they are now, validated.

    The options must belong to the item's live groups, each group's count within its
    min_select..max_select (a group with min_select >= 1 must be chosen), and the unit price
    (priced by ``pricing``) must not be negative: else 409 ``options_invalid``.
    """
    item_id, option_ids = key
    item = catalog[item_id]
    chosen: dict[int, dict[str, Any]] = {}
    for group in item.option_groups:
        count = 0
        for option in group.options:
            if option.option_id in option_ids:
                count += 1
                chosen[option.option_id] = {
                    "option_id": option.option_id,
                    "group_id": group.group_id,
                    "name": option.name,
                    "price_delta": option.price_delta,
                }
        if not group.min_select <= count <= group.max_select:
            raise _options_invalid(
                key,
                f"group {group.group_id} ({group.name}) takes "
                f"{group.min_select}-{group.max_select} options, got {count}",
            )
    foreign = [option_id for option_id in option_ids if option_id not in chosen]
    if foreign:
        raise _options_invalid(key, f"not options of this item: {foreign}")
    options = [chosen[option_id] for option_id in option_ids]
    deltas = tuple(option["price_delta"] for option in options)
    try:
        unit = pricing.price_order([pricing.Line(item.price, 1, item.tax, deltas)]).lines[0]
    except pricing.InvalidPricing as exc:
        raise _options_invalid(key, "the options make the price negative") from exc
    return OrderLine(
        order_id=order_id,
        item_id=item_id,
        option_key=_option_key(option_ids),
        item_name=item.name,
        unit_price=unit.unit_price,
        unit_cost=item.cost,
        quantity=quantity,
        options=json.dumps(options, ensure_ascii=False, separators=(",", ":")),
        category_id=item.category_id,
        category_name=item.category_name,
        tax=item.tax,
    )


def _lines(session: Session, order_id: int) -> list[OrderLine]:
    return list(
        session.scalars(
            select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.id)
        )
    )


def _discounts(session: Session, order_id: int) -> list[OrderDiscount]:
    return list(
        session.scalars(
            select(OrderDiscount)
            .where(OrderDiscount.order_id == order_id)
            .order_by(OrderDiscount.id)
        )
    )


def _as_pricing(discount: OrderDiscount) -> pricing.Discount:
    return pricing.Discount(discount.kind, discount.value, discount.reason)  # type: ignore[arg-type]


def price(
    lines: Sequence[OrderLine],
    discounts: Sequence[OrderDiscount],
    refs: dict[int, pricing.LineRef] | None = None,
) -> pricing.PricedOrder:
    """The order's figures (``pricing.price_order``): lines in id order, discounts in id order.

    ``refs`` names lines not flushed yet (``id(line)`` -> a temporary ref); raises what
    ``price_order`` raises (``DiscountTooLarge`` is a 409).
    """
    by_line: dict[int | None, list[pricing.Discount]] = defaultdict(list)
    order_discounts: list[pricing.Discount] = []
    for discount in sorted(discounts, key=lambda d: d.id or 0):
        if discount.scope == "line":
            by_line[discount.line_id].append(_as_pricing(discount))
        else:
            order_discounts.append(_as_pricing(discount))
    refs = refs or {}
    return pricing.price_order(
        [
            pricing.Line(
                unit_price=line.unit_price,
                quantity=line.quantity,
                tax=line.tax,  # type: ignore[arg-type]
                discounts=tuple(by_line[line.id]) if line.id is not None else (),
                ref=line.id if line.id is not None else refs[id(line)],
            )
            for line in sorted(lines, key=lambda line: (line.id is None, line.id or 0))
        ],
        order_discounts,
    )


def _check_paid(order: Order, total: int) -> None:
    if total < order.paid_total:
        raise Conflict(
            "결제된 금액보다 주문 금액이 작아질 수 없습니다.",
            code="below_paid_total",
            extra={"paid_total": order.paid_total, "total": total},
        )


def _check_cancellable(order: Order) -> None:
    """An order with payments recorded against it is never cancelled: the money taken would
    belong to no sale and could be neither refunded nor counted. 409 ``has_payments``."""
    if order.paid_total > 0:
        raise Conflict(
            "결제가 진행된 주문은 취소할 수 없습니다.",
            code="has_payments",
            extra={"order_id": order.id, "paid_total": order.paid_total},
        )


def _option_ids(line: OrderLine) -> list[int]:
    return list(_key(line)[1])


def _lines_data(lines: Iterable[OrderLine]) -> list[dict[str, Any]]:
    return [
        {
            "line_id": line.id,
            "item_id": line.item_id,
            "item_name": line.item_name,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "options": _option_ids(line),
        }
        for line in sorted(lines, key=lambda line: (line.item_id, line.id))
    ]


def _changed(order: Order, lines: Iterable[OrderLine]) -> dict[str, Any]:
    """``lines_changed`` data: the lines after the change and the total (after discounts)."""
    return {
        "table_no": order.table_no,
        "version": order.version,
        "total_price": order.total_price,
        "total": order.total_price,
        "lines": _lines_data(lines),
    }


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


def _lock_or_open(
    session: Session, store_id: int, table_no: int, tz: str, staff_id: int | None
) -> Order:
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
            staff_id=staff_id,
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
    wanted: dict[LineKey, int],
    catalog: Catalog,
    tz: str,
    staff_id: int | None = None,
) -> Written:
    """POST: open the table's order or add to the open one (lines merged by item and options).

    Validated before anything is locked or written: every item live (422 ``unknown_item``), none
    sold out (409 ``sold_out``), the options of new lines (409 ``options_invalid``). Queries: the
    lock (or open), the lines, the discounts (skipped for an order opened here: it has none), the
    writes and the event.
    """
    check_catalog(wanted, catalog)
    _check_orderable(wanted, catalog)
    new_lines = {key: _new_line(None, key, quantity, catalog) for key, quantity in wanted.items()}
    try:
        order = _lock_or_open(session, store_id, table_no, tz, staff_id)
        opened = order.version == 0
        lines = {_key(line): line for line in _lines(session, order.id)} if not opened else {}
        discounts = _discounts(session, order.id) if not opened else []
        for key, quantity in wanted.items():
            line = lines.get(key)
            if line is None:
                # a new line: the item and options as they are now
                line = lines[key] = new_lines[key]
                line.order_id = order.id
                session.add(line)
            else:
                # units added to an existing line keep that line's snapshot
                line.quantity += quantity
        _check_quantities({key: line.quantity for key, line in lines.items()})
        session.flush()  # line ids, which pricing and the event name lines by
        order.total_price = price(list(lines.values()), discounts).total
        order.version += 1
        order.updated_at = utcnow()
        session.flush()
        changes = [(events.LINES_CHANGED, _changed(order, lines.values()))]
        if opened:
            data = {"table_no": table_no, "business_date": order.business_date.isoformat()}
            changes.insert(0, (events.OPENED, data))
        events.record_events(session, order, changes, staff_id)
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
    wanted: dict[LineKey, int],
    catalog: Catalog,
    tz: str,
    expected_version: int | None = None,
    staff_id: int | None = None,
) -> Written | None:
    """PUT: replace the open order's lines; empty ``wanted`` cancels it.

    Returns None when there is no open order and nothing to write. The version read here is the
    one the final conditional UPDATE requires, so a concurrent change (lines, discounts,
    payments: each bumps the version) turns this write into a 409 instead of being overwritten
    silently. Lines still in the cart keep their id, snapshot and discounts; lines dropped take
    their line discounts with them. The new figures are priced before anything is written: a
    discount above its new base (409 ``discount_exceeds_base``) or a total under the paid total
    (409 ``below_paid_total``) writes nothing.
    """
    order = session.scalar(_open_query(store_id, table_no))
    if order is None:
        session.rollback()
        if not wanted:
            return None
        return add_lines(session, store_id, table_no, wanted, catalog, tz, staff_id)
    read_version = order.version
    if expected_version is not None and expected_version != read_version:
        raise _version_conflict(session, order.id)
    existing = {_key(line): line for line in _lines(session, order.id)}
    # lines already on the order keep their snapshot (and may stay even if retired since)
    check_catalog(wanted, catalog, allowed=existing)
    _check_orderable(
        [k for k, q in wanted.items() if k not in existing or q > existing[k].quantity], catalog
    )
    now = utcnow()
    guard = and_(Order.id == order.id, Order.version == read_version, Order.status == OPEN)
    try:
        dropped: list[OrderDiscount] = []
        kept: dict[LineKey, OrderLine] = {}
        if not wanted:
            _check_cancellable(order)  # a payment since our read bumps the version: 409 below
            changes: dict[str, Any] = {"status": CANCELLED, "cancelled_at": now}
        else:
            discounts = _discounts(session, order.id)
            refs: dict[int, pricing.LineRef] = {}
            for key, quantity in wanted.items():
                line = existing.get(key)
                if line is None:
                    line = _new_line(order.id, key, quantity, catalog)
                    refs[id(line)] = f"new-{len(refs)}"
                kept[key] = line
            gone = {line.id for key, line in existing.items() if key not in wanted}
            dropped = [d for d in discounts if d.scope == "line" and d.line_id in gone]
            staying = [d for d in discounts if d not in dropped]
            # price the new state before writing anything: quantities as wanted
            priced_lines = [
                _with_quantity(line, wanted[key]) if line.id is not None else line
                for key, line in kept.items()
            ]
            total = price(priced_lines, staying, refs).total
            _check_paid(order, total)
            changes = {"total_price": total}
        updated = session.execute(
            update(Order)
            .where(guard)
            .values(version=Order.version + 1, updated_at=now, **changes)
            .execution_options(synchronize_session=False)
        )
        if rows_matched(updated) != 1:
            raise _version_conflict(session, order.id)
        # what the conditional UPDATE wrote, without marking the order dirty again
        for name, value in {"version": read_version + 1, "updated_at": now, **changes}.items():
            set_committed_value(order, name, value)
        if wanted:
            for key, line in existing.items():
                if key not in wanted:
                    session.delete(line)
            for discount in dropped:
                session.delete(discount)
            session.flush()  # the (item, options) key of a dropped line may come back as new
            for key, line in kept.items():
                if line.id is None:
                    session.add(line)
                else:
                    line.quantity = wanted[key]
            session.flush()
            for discount in dropped:
                events.record_event(
                    session,
                    order,
                    events.DISCOUNT_REMOVED,
                    {"discount": _discount_data(discount), "cause": "line_removed"},
                    staff_id,
                )
            events.record_event(
                session, order, events.LINES_CHANGED, _changed(order, kept.values()), staff_id
            )
        else:
            data = {
                "table_no": table_no,
                "version": order.version,
                "total_price": order.total_price,
            }
            events.record_event(session, order, events.CANCELLED, data, staff_id)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return Written(order.id, table_no, read_version + 1)


def _with_quantity(line: OrderLine, quantity: int) -> OrderLine:
    """A detached copy of ``line`` with another quantity (pricing a PUT before writing it)."""
    return OrderLine(
        id=line.id,
        unit_price=line.unit_price,
        quantity=quantity,
        tax=line.tax,
        item_id=line.item_id,
    )


def cancel_table(
    session: Session, store_id: int, table_no: int, staff_id: int | None = None
) -> list[int]:
    """Cancel the table's open order (kept with its status and time); the ids cancelled.

    Guarded: an order with payments (part-paid: some tenders of a split taken) is refused with
    409 ``has_payments`` and stays as it is. The order row is locked, and a payment locks it too,
    so a payment and a cancel of one order never both succeed.
    """
    _serialize_writers(session)
    orders = list(session.scalars(_open_query(store_id, table_no).with_for_update()))
    try:
        for order in orders:
            _check_cancellable(order)
    except Conflict:
        session.rollback()
        raise
    now = utcnow()
    for order in orders:
        order.status = CANCELLED
        order.cancelled_at = now
        order.updated_at = now
        order.version += 1
    session.flush()
    for order in orders:
        data = {"table_no": table_no, "version": order.version, "total_price": order.total_price}
        events.record_event(session, order, events.CANCELLED, data, staff_id)
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
        .order_by(Order.table_no, OrderLine.item_id, OrderLine.id)
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


# ---- discounts, the whole order, split


def _discount_data(discount: OrderDiscount) -> dict[str, Any]:
    """A discount as entered (the ``discount`` of its events)."""
    return {
        "discount_id": discount.id,
        "scope": discount.scope,
        "line_id": discount.line_id,
        "item_id": discount.item_id,
        "kind": discount.kind,
        "value": discount.value,
        "reason": discount.reason,
        "staff_id": discount.staff_id,
    }


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


def _not_open(order: Order) -> Conflict:
    return Conflict("열린 주문이 아닙니다.", code="order_not_open", extra={"status": order.status})


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


def _options(line: OrderLine) -> list[dict[str, Any]]:
    options: list[dict[str, Any]] = json.loads(line.options)
    return options


def order_detail(session: Session, store_id: int, order_id: int, tz: str) -> dict[str, Any]:
    """The whole order (``GET /orders/<order_id>`` and its internal twin): four reads."""
    order = order_for_store(session, store_id, order_id)
    lines = _lines(session, order.id)
    discounts = _discounts(session, order.id)
    payments = session.scalars(
        select(OrderPayment).where(OrderPayment.order_id == order.id).order_by(OrderPayment.id)
    ).all()
    priced = price(lines, discounts)
    figures = {line.ref: line for line in priced.lines}
    taken = _discount_amounts(priced, discounts)
    session.rollback()
    return {
        "order_id": order.id,
        "table_no": order.table_no,
        "status": order.status,
        "version": order.version,
        "opened_at": iso(order.opened_at, tz),
        "updated_at": iso(order.updated_at, tz),
        "paid_at": iso(order.paid_at, tz) if order.paid_at else None,
        "paid_business_date": (
            order.paid_business_date.isoformat() if order.paid_business_date else None
        ),
        "staff_id": order.staff_id,
        "merged_into_order_id": order.merged_into_order_id,
        "lines": [
            {
                "line_id": line.id,
                "item_id": line.item_id,
                "item_name": line.item_name,
                "category_id": line.category_id,
                "category_name": line.category_name,
                "tax": line.tax,
                "options": _options(line),
                "unit_price": line.unit_price,
                "quantity": line.quantity,
                "amount": figures[line.id].amount,
                "line_discount": sum(figures[line.id].line_discounts),
                "order_discount": figures[line.id].order_discount,
                "discount": figures[line.id].discount,
                "net": figures[line.id].net,
            }
            for line in lines
        ],
        "discounts": [
            {
                **_discount_data(discount),
                "amount": taken[discount.id],
                "created_at": iso(discount.created_at, tz),
            }
            for discount in discounts
        ],
        **priced.totals(),
        "payments": [
            {
                "payment_ref": payment.payment_ref,
                "amount": payment.amount,
                "payment_type": payment.payment_type,
                "staff_id": payment.staff_id,
                "created_at": iso(payment.created_at, tz),
            }
            for payment in payments
        ],
        "paid_total": order.paid_total,
        "balance": priced.total - order.paid_total,
    }


def _discount_amounts(
    priced: pricing.PricedOrder, discounts: Sequence[OrderDiscount]
) -> dict[int, int]:
    """What each discount takes off, from the priced order (pricing's order of application)."""
    by_ref = {line.ref: list(line.line_discounts) for line in priced.lines}
    order_amounts = list(priced.order_discounts)
    taken: dict[int, int] = {}
    for discount in sorted(discounts, key=lambda d: d.id):
        if discount.scope == "line":
            assert discount.line_id is not None  # a line discount names its line (schema rule)
            taken[discount.id] = by_ref[discount.line_id].pop(0)
        else:
            taken[discount.id] = order_amounts.pop(0)
    return taken


def split(session: Session, store_id: int, order_id: int, ways: int) -> dict[str, Any]:
    """The order's balance in ``ways`` shares (``pricing.split``), for 1/N payments."""
    order = order_for_store(session, store_id, order_id)
    session.rollback()
    if order.status != OPEN:
        raise _not_open(order)
    return {"balance": order.balance, "shares": list(pricing.split(order.balance, ways))}


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
        order = _lock_payable(session, store_id, request)
        # Read after the lock (a concurrent request with this ref may have committed while we
        # waited for it): a replay answers what was recorded, whatever the order's state now.
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
        lines = _lines(session, order.id)
        priced = price(lines, _discounts(session, order.id))
        settled = order.paid_total + amount == order.total_price
        # every read before the first change: the order is then written with one UPDATE
        item_ids = [line.item_id for line in lines]
        costs = menu.current_costs(session, store_id, item_ids) if settled else {}
        order.paid_total += amount
        order.version += 1
        order.updated_at = now
        if settled:
            discounts = {figures.ref: figures.discount for figures in priced.lines}
            for line in lines:
                if line.item_id in costs:  # else the snapshot taken when the line was written
                    line.unit_cost = costs[line.item_id]
                line.discount = discounts[line.id]  # frozen: daily totals and rebuilds use it
            order.status = PAID
            order.paid_at = now
            order.paid_business_date = business_date(now, tz)
            order.paid_hour = rollup.local_hour(now, tz)
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
            pricing=json.dumps(_figures(priced), separators=(",", ":")),
        )
        session.add(payment)
        session.flush()
        if settled:
            assert order.paid_business_date is not None
            rollup.record_payment(session, store_id, order.paid_business_date, now, lines)
            rollup.record_order(session, order, priced, lines, request.staff_id)
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
        events.record_events(session, order, changes, request.staff_id)
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
            "gross": row.gross,
            "discount": row.discount,
            "cost_total": row.cost_total,
            "uncosted_quantity": row.uncosted_quantity,
            "uncosted_first_paid_at": _as_iso(row.uncosted_first_paid_at),
        }
        for row in rows
    ]


def order_summary(session: Session, store_id: int, start: date, end: date) -> dict[str, Any]:
    """Paid orders over [start, end] by ``paid_business_date``, from the summary rollup rows.

    Two grouped, indexed reads (their primary keys lead with store and day) whatever the number
    of orders: (hour, settling staff) rows and category rows. Totals are ``pricing.Figures``
    summed from the per-order figures kept at payment; ``by_staff`` counts an order for the
    staff who took the payment that settled it (``staff_id`` null = the owner).
    """
    in_days = (
        DailyOrderSales.store_id == store_id,
        DailyOrderSales.business_date.between(start, end),
    )
    grouped = session.execute(
        select(
            DailyOrderSales.hour,
            DailyOrderSales.staff_key,
            func.sum(DailyOrderSales.order_count),
            func.sum(DailyOrderSales.gross),
            func.sum(DailyOrderSales.discount),
            func.sum(DailyOrderSales.taxable_total),
            func.sum(DailyOrderSales.exempt_total),
            func.sum(DailyOrderSales.vat),
        )
        .where(*in_days)
        .group_by(DailyOrderSales.hour, DailyOrderSales.staff_key)
    ).all()
    figures = pricing.Figures()
    hours = {hour: pricing.Figures() for hour in range(24)}
    staff: dict[int, pricing.Figures] = {}
    for hour, staff_key, count, gross, discount, taxable, exempt, vat in grouped:
        part = pricing.Figures(
            gross_sales=int(gross),
            discount_total=int(discount),
            taxable_total=int(taxable),
            exempt_total=int(exempt),
            vat=int(vat),
            order_count=int(count),
        )
        figures = figures + part
        hours[int(hour)] = hours[int(hour)] + part
        staff[int(staff_key)] = staff.get(int(staff_key), pricing.Figures()) + part
    categories = session.execute(
        select(
            DailyCategorySales.category_key,
            DailyCategorySales.category_name,
            func.max(DailyCategorySales.business_date),
            func.sum(DailyCategorySales.quantity),
            func.sum(DailyCategorySales.gross),
            func.sum(DailyCategorySales.net),
        )
        .where(
            DailyCategorySales.store_id == store_id,
            DailyCategorySales.business_date.between(start, end),
        )
        .group_by(DailyCategorySales.category_key, DailyCategorySales.category_name)
    ).all()
    by_category: dict[int, dict[str, Any]] = {}
    named_on: dict[int, Any] = {}
    for key, name, last_day, quantity, gross, net in categories:
        row = by_category.setdefault(
            int(key),
            {
                "category_id": None if key == NO_CATEGORY_KEY else int(key),
                "category_name": name,
                "quantity": 0,
                "gross": 0,
                "net": 0,
            },
        )
        if int(key) not in named_on or str(last_day) > str(named_on[int(key)]):
            row["category_name"], named_on[int(key)] = name, last_day  # the latest day's name
        row["quantity"] += int(quantity)
        row["gross"] += int(gross)
        row["net"] += int(net)
    return {
        "gross_sales": figures.gross_sales,
        "discount_total": figures.discount_total,
        "total": figures.net_sales,
        "taxable_total": figures.taxable_total,
        "vat": figures.vat,
        "supply_value": figures.supply_value,
        "exempt_total": figures.exempt_total,
        "order_count": figures.order_count,
        "by_hour": [
            {"hour": hour, "order_count": part.order_count, "total": part.net_sales}
            for hour, part in sorted(hours.items())
        ],
        "by_category": sorted(
            by_category.values(), key=lambda row: (-row["net"], row["category_id"] or 0)
        ),
        "by_staff": [
            {
                "staff_id": None if key == OWNER_STAFF_KEY else key,
                "order_count": part.order_count,
                "total": part.net_sales,
            }
            for key, part in sorted(staff.items())
        ],
    }
