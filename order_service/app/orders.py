"""Orders: the cart and its lines, opening/cancelling a table's order, its detail and split.

Use-cases are plain functions over a session, testable without HTTP; discounts are in
``discounts.py``, payments (called by the sale service) in ``payments.py``, the dashboard's
reports in ``reports.py``, table transfer/merge/move in ``tables.py``.

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

import functools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from salesync_common import pricing
from salesync_common.db import (
    WriteBatch,
    prepared,
    reads_without_transaction,
    rows_matched,
    upsert_insert,
)
from salesync_common.errors import Conflict, NotFound, ValidationFailed
from salesync_common.timeutil import business_date, iso, utcnow

from . import events
from .clients import Catalog
from .models import (
    CANCELLED,
    IS_OPEN,
    OPEN,
    Order,
    OrderDiscount,
    OrderLine,
    OrderPayment,
)
from .schemas import CartLineIn

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


# The hot path's reads, built once: a request binds the values and reuses the compiled form.
_LINES = prepared(
    select(OrderLine).where(OrderLine.order_id == bindparam("order_id")).order_by(OrderLine.id)
)
_DISCOUNTS = prepared(
    select(OrderDiscount)
    .where(OrderDiscount.order_id == bindparam("order_id"))
    .order_by(OrderDiscount.id)
)
_OPEN = prepared(
    select(Order).where(
        Order.store_id == bindparam("store_id"),
        Order.table_no == bindparam("table_no"),
        Order.status == OPEN,
    )
)
_OPEN_LOCKED = _OPEN.with_for_update()


def _lines(session: Session, order_id: int) -> list[OrderLine]:
    return list(session.scalars(_LINES, {"order_id": order_id}))


def _discounts(session: Session, order_id: int) -> list[OrderDiscount]:
    return list(session.scalars(_DISCOUNTS, {"order_id": order_id}))


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
    """The table's open order, locked; opened now (empty, version 0) if the table is free."""
    return _lock_or_open_at(session, store_id, table_no, tz, staff_id)[0]


def _lock_or_open_at(
    session: Session,
    store_id: int,
    table_no: int,
    tz: str,
    staff_id: int | None,
    opening_total: int | None = None,
) -> tuple[Order, bool]:
    """The table's open order, locked, and whether it was opened here (the table was free).

    ``opening_total``: the total of the lines the caller adds to an order it opens, so the
    order is inserted as it will be (version 1, that total) and not updated after its lines.

    Two terminals opening the same free table race on the partial unique index: the loser's
    insert does nothing (``ON CONFLICT DO NOTHING``, one statement: no savepoint) and it locks
    the winner's order instead.
    """
    _serialize_writers(session)
    for _ in range(OPEN_RETRIES):
        order = session.scalar(_OPEN_LOCKED, {"store_id": store_id, "table_no": table_no})
        if order is not None:
            return order, False
        now = utcnow()
        opened = session.scalar(
            _open_statement(upsert_insert(session)),
            {
                "store_id": store_id,
                "table_no": table_no,
                "version": 0 if opening_total is None else 1,
                "business_date": business_date(now, tz),
                "now": now,
                "total_price": opening_total or 0,
                "staff_id": staff_id,
            },
        )
        if opened is not None:
            return opened, True
    raise Conflict(VERSION_CONFLICT, code="order_busy")


@functools.cache
def _open_statement(dialect_insert: Callable[..., Any]) -> Any:
    """Open a free table's order (built once per dialect; the request binds the values).

    A Core INSERT loaded as the ORM's ``Order``: the ORM's own bulk INSERT path costs more.
    """
    table = Order.__table__
    inserting = (
        dialect_insert(table)
        .values(
            store_id=bindparam("store_id"),
            table_no=bindparam("table_no"),
            status=OPEN,
            version=bindparam("version"),
            business_date=bindparam("business_date"),
            opened_at=bindparam("now"),
            updated_at=bindparam("now"),
            total_price=bindparam("total_price"),
            paid_total=0,
            staff_id=bindparam("staff_id"),
        )
        .on_conflict_do_nothing(index_elements=["store_id", "table_no"], index_where=IS_OPEN)
        .returning(*table.c)
    )
    return prepared(select(Order).from_statement(inserting))


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
    _check_quantities({key: line.quantity for key, line in new_lines.items()})
    unflushed: dict[int, pricing.LineRef] = {
        id(line): f"new-{n}" for n, line in enumerate(new_lines.values())
    }
    opening_total = price(list(new_lines.values()), [], unflushed).total
    try:
        order, opened = _lock_or_open_at(session, store_id, table_no, tz, staff_id, opening_total)
        lines = {_key(line): line for line in _lines(session, order.id)} if not opened else {}
        discounts = _discounts(session, order.id) if not opened else []
        added: list[OrderLine] = []
        for key, quantity in wanted.items():
            line = lines.get(key)
            if line is None:
                # a new line: the item and options as they are now
                line = lines[key] = new_lines[key]
                line.order_id = order.id
                added.append(line)
            else:
                # units added to an existing line keep that line's snapshot
                line.quantity += quantity
        _check_quantities({key: line.quantity for key, line in lines.items()})
        session.flush()  # the existing lines' new quantities
        _insert_lines(session, added)  # their ids, which pricing and the event name lines by
        if not opened:  # an order opened here was inserted with its total, at version 1
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


# The columns a new line is written with (``_new_line`` sets them all); ``id`` comes back.
_LINE_VALUES = (
    "order_id",
    "item_id",
    "option_key",
    "item_name",
    "unit_price",
    "unit_cost",
    "quantity",
    "options",
    "category_id",
    "category_name",
    "tax",
)
_INSERT_LINES = insert(OrderLine.__table__).returning(
    OrderLine.__table__.c.id, sort_by_parameter_order=True
)


def _insert_lines(session: Session, lines: Sequence[OrderLine]) -> None:
    """Insert new lines in one statement and give each its id (the objects stay outside the
    session: nothing changes them after this request's write)."""
    if not lines:
        return
    rows = [{name: getattr(line, name) for name in _LINE_VALUES} for line in lines]
    for line, line_id in zip(lines, session.scalars(_INSERT_LINES, rows).all(), strict=True):
        line.id = line_id


def _version_conflict(session: Session, order_id: int) -> Conflict:
    session.rollback()
    current = session.scalar(select(Order.version).where(Order.id == order_id))
    return Conflict(VERSION_CONFLICT, code="version_conflict", extra={"version": current})


# PUT's conditional write of the order, built once: it matches only the version read.
_BUMP_IF_UNCHANGED = prepared(
    update(Order.__table__)
    .where(
        Order.id == bindparam("order_id"),
        Order.version == bindparam("read_version"),
        Order.status == OPEN,
    )
    .values(version=Order.version + 1, updated_at=bindparam("now"))
)
_REPRICE_IF_UNCHANGED = _BUMP_IF_UNCHANGED.values(total_price=bindparam("new_total"))
_CANCEL_IF_UNCHANGED = _BUMP_IF_UNCHANGED.values(status=CANCELLED, cancelled_at=bindparam("now"))
_SET_QUANTITY = (
    update(OrderLine.__table__)
    .where(OrderLine.__table__.c.id == bindparam("line_id"))
    .values(quantity=bindparam("new_quantity"))
)


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
    order = session.scalar(_OPEN, {"store_id": store_id, "table_no": table_no})
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
    try:
        dropped: list[OrderDiscount] = []
        gone: set[int] = set()
        kept: dict[LineKey, OrderLine] = {}
        if not wanted:
            _check_cancellable(order)  # a payment since our read bumps the version: 409 below
            changes: dict[str, Any] = {"status": CANCELLED, "cancelled_at": now}
            guarded_update, values = _CANCEL_IF_UNCHANGED, {}
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
            guarded_update, values = _REPRICE_IF_UNCHANGED, {"new_total": total}
        updated = session.execute(
            guarded_update,
            {"order_id": order.id, "read_version": read_version, "now": now, **values},
        )
        if rows_matched(updated) != 1:
            raise _version_conflict(session, order.id)
        # what the conditional UPDATE wrote, without marking the order dirty again
        for name, value in {"version": read_version + 1, "updated_at": now, **changes}.items():
            set_committed_value(order, name, value)
        # the remaining writes and the events in one round trip on PostgreSQL (db.WriteBatch)
        writes = WriteBatch(session)
        if wanted:
            if gone:
                for key, line in existing.items():
                    if key not in wanted:
                        session.delete(line)
                for discount in dropped:
                    session.delete(discount)
                session.flush()  # the (item, options) key of a dropped line may come back as new
            _set_quantities(writes, kept, wanted)
            _insert_lines(session, [line for line in kept.values() if line.id is None])
            happened = [
                (
                    events.DISCOUNT_REMOVED,
                    {"discount": _discount_data(discount), "cause": "line_removed"},
                )
                for discount in dropped
            ]
            happened.append((events.LINES_CHANGED, _changed(order, kept.values())))
        else:
            data = {
                "table_no": table_no,
                "version": order.version,
                "total_price": order.total_price,
            }
            happened = [(events.CANCELLED, data)]
        events.record_events(session, order, happened, staff_id, writes)
        writes.send()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return Written(order.id, table_no, read_version + 1)


def _set_quantities(
    writes: WriteBatch, kept: dict[LineKey, OrderLine], wanted: dict[LineKey, int]
) -> None:
    """Queue the new quantities of the lines already on the order, by a prebuilt UPDATE (the
    ORM's flush of them cost more than the statement); the loaded lines take the values."""
    changed = {
        key: line
        for key, line in kept.items()
        if line.id is not None and line.quantity != wanted[key]
    }
    if not changed:
        return
    for key, line in changed.items():
        writes.add(_SET_QUANTITY, {"line_id": line.id, "new_quantity": wanted[key]})
        set_committed_value(line, "quantity", wanted[key])


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


# GET /orders/unpaids and /orders/unpaids/<t>, built once (each request binds its values)
_OPEN_WITH_LINES = prepared(
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
    .where(Order.store_id == bindparam("store_id"), Order.status == OPEN)
    .order_by(Order.table_no, OrderLine.item_id, OrderLine.id)
)
_TABLE_WITH_LINES = _OPEN_WITH_LINES.where(Order.table_no == bindparam("table_no"))


def open_orders(
    session: Session, store_id: int, table_no: int | None = None
) -> list[dict[str, Any]]:
    """Open orders of the store (or one table) with their lines: one query, ascending table."""
    reads_without_transaction(session)
    if table_no is None:
        rows = session.execute(_OPEN_WITH_LINES, {"store_id": store_id})
    else:
        rows = session.execute(_TABLE_WITH_LINES, {"store_id": store_id, "table_no": table_no})
    grouped: dict[int, dict[str, Any]] = {}
    for row in rows:
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


def _not_open(order: Order) -> Conflict:
    return Conflict("열린 주문이 아닙니다.", code="order_not_open", extra={"status": order.status})


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


def order_for_store(session: Session, store_id: int, order_id: int) -> Order:
    order = session.scalar(select(Order).where(Order.id == order_id, Order.store_id == store_id))
    if order is None:
        raise NotFound("존재하지 않는 주문", code="order_not_found")
    return order
