"""Table moves (transfer, merge, move-lines) and the audit trail of an order.

Locking: a table move touches the open orders of two tables. Both are locked (``SELECT ... FOR
UPDATE``) one statement at a time in ascending ``table_no``, whatever the direction of the move,
so two moves between the same tables (A→B and B→A, two merges into one table) wait for each
other instead of deadlocking. Every other writer of an order (POST/PUT lines, discounts,
payments, cancel) locks that one order row before touching its lines or discounts, so the order
row guards its lines: a move never races a line edit. ``record_event`` (the store's counter row)
comes last, after every order lock. A move bumps the ``version`` of each order it changes, so a
PUT that read the old version answers 409 ``version_conflict`` instead of overwriting the move.

A free target table has no row to lock: moving an order there (or opening one for move-lines)
can race a terminal opening that table. The partial unique index on open orders decides; the
loser of a transfer rolls back and tries again from the start (:data:`orders.OPEN_RETRIES`).

Decisions (documented in the OpenAPI descriptions):

- Merge (transfer onto an occupied table): lines of the same (item, options) add up; a line that
  the target does not have moves as it is, keeping its ``line_id`` and its line discounts (so
  they take exactly what they took). Two lines that meet while either carries a line discount
  are refused (409 ``line_has_discount``): a percent discount would then cover the other's
  units, and splitting an amount would invent a new figure; remove the discount first. The
  source's order discounts are dropped, each with a ``discount_removed`` event (``cause:
  merged``): they were granted on that check. The target's order discounts stay and apply to the
  merged check. A source with payments is refused (409 ``has_payments``); a target with payments
  is allowed (its total only grows, so ``paid_total <= total`` holds; checked anyway).
- Move-lines: a line moves whole (line id and line discounts with it) or in part (a new line
  with the same snapshot on the target); units of a line carrying a line discount move only as
  the whole line onto a target without that line (else 409 ``line_has_discount``). Moving every
  unit of the source is refused (409 ``would_empty_source``: that is a transfer). The source's
  order discounts stay on the source: re-priced by ``pricing``, an amount above what is left is
  409 ``discount_exceeds_base``, and a source total under its paid total 409
  ``below_paid_total``. Nothing is written on any refusal.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from salesync_common.db import violates_unique
from salesync_common.errors import Conflict, NotFound, ValidationFailed
from salesync_common.timeutil import iso, utcnow

from . import events, orders
from .models import CANCELLED, OPEN_TABLE_INDEX, Order, OrderDiscount, OrderEvent, OrderLine
from .schemas import MoveLineIn

TRANSFERRED = "transferred"
LINES_MOVED = "lines_moved"
REFUND = "refund"


@dataclass(frozen=True)
class MovedUnits:
    line: OrderLine  # the source line
    quantity: int


def _same_table(table_no: int) -> ValidationFailed:
    return ValidationFailed(
        "같은 테이블로 옮길 수 없습니다.",
        code="same_table",
        fields={"to_table": f"must differ from the source table {table_no}"},
    )


def _no_open_order() -> NotFound:
    return NotFound("이 테이블에 열린 주문이 없습니다.", code="no_open_order")


def _lock_open(session: Session, store_id: int, table_no: int) -> Order | None:
    return session.scalar(
        orders._open_query(store_id, table_no)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _bump(order: Order, total: int) -> None:
    order.total_price = total
    order.version += 1
    order.updated_at = utcnow()


def _line_discounted(discounts: Sequence[OrderDiscount]) -> set[int]:
    return {d.line_id for d in discounts if d.scope == "line" and d.line_id is not None}


def _line_has_discount(line_ids: Sequence[int]) -> Conflict:
    return Conflict(
        "할인이 적용된 줄은 합칠 수 없습니다: 할인을 먼저 삭제하세요.",
        code="line_has_discount",
        extra={"line_ids": sorted(set(line_ids))},
    )


def _check_target_quantities(lines: Sequence[OrderLine]) -> None:
    too_many = [line.id for line in lines if line.quantity > orders.MAX_LINE_QUANTITY]
    if too_many:
        raise Conflict(
            f"한 줄의 수량은 {orders.MAX_LINE_QUANTITY}개를 넘을 수 없습니다.",
            code="quantity_too_large",
            extra={"line_ids": too_many},
        )


# ---- transfer


def transfer(
    session: Session, store_id: int, table_no: int, to_table: int, staff_id: int | None
) -> dict[str, Any]:
    """Move the table's open order to ``to_table`` (free) or merge it into its open order.

    One transaction; both tables locked in ascending ``table_no``. Refusals write nothing: same
    table 422 ``same_table``; no open order on the source 404 ``no_open_order``; merging a source
    with payments 409 ``has_payments``; lines meeting with a line discount 409
    ``line_has_discount``; a merged line above the quantity limit 409 ``quantity_too_large``.
    """
    if to_table == table_no:
        raise _same_table(table_no)
    for _ in range(orders.OPEN_RETRIES):
        try:
            answer = _transfer_once(session, store_id, table_no, to_table, staff_id)
            session.commit()
            return answer
        except IntegrityError as exc:
            session.rollback()
            # a terminal opened the free target between our lock and our move: start again
            if not violates_unique(exc, OPEN_TABLE_INDEX, "orders.store_id, orders.table_no"):
                raise
        except BaseException:
            session.rollback()
            raise
    raise Conflict(orders.VERSION_CONFLICT, code="order_busy")


def _transfer_once(
    session: Session, store_id: int, table_no: int, to_table: int, staff_id: int | None
) -> dict[str, Any]:
    orders._serialize_writers(session)
    locked = {table: _lock_open(session, store_id, table) for table in sorted((table_no, to_table))}
    source, target = locked[table_no], locked[to_table]
    if source is None:
        raise _no_open_order()
    if target is None:
        source.table_no = to_table
        _bump(source, source.total_price)
        session.flush()
        data = {
            "table_no": to_table,
            "from_table": table_no,
            "to_table": to_table,
            "version": source.version,
            "total": source.total_price,
        }
        events.record_event(session, source, TRANSFERRED, data, staff_id)
        return {
            "result": "moved",
            "order_id": source.id,
            "from_table": table_no,
            "to_table": to_table,
            "version": source.version,
            "merged_from_order_id": None,
            "total": source.total_price,
        }
    return _merge(session, source, target, staff_id)


def _merge(session: Session, source: Order, target: Order, staff_id: int | None) -> dict[str, Any]:
    if source.paid_total > 0:
        raise Conflict(
            "결제가 있는 주문은 다른 테이블과 합칠 수 없습니다.",
            code="has_payments",
            extra={"paid_total": source.paid_total},
        )
    source_lines = orders._lines(session, source.id)
    source_discounts = orders._discounts(session, source.id)
    target_lines = {orders._key(line): line for line in orders._lines(session, target.id)}
    target_discounts = orders._discounts(session, target.id)
    discounted = _line_discounted([*source_discounts, *target_discounts])
    clashes = [
        line_id
        for line in source_lines
        if (meeting := target_lines.get(orders._key(line))) is not None
        and (line.id in discounted or meeting.id in discounted)
        for line_id in (line.id, meeting.id)
    ]
    if clashes:
        raise _line_has_discount(clashes)
    dropped = [d for d in source_discounts if d.scope == "order"]
    carried = [d for d in source_discounts if d.scope == "line"]
    for line in source_lines:
        key = orders._key(line)
        meeting = target_lines.get(key)
        if meeting is not None:
            meeting.quantity += line.quantity
            session.delete(line)
        else:
            line.order_id = target.id  # keeps its line_id, so its line discounts still name it
            target_lines[key] = line
    _check_target_quantities(list(target_lines.values()))
    for discount in carried:
        discount.order_id = target.id
    dropped_data = [orders._discount_data(d) for d in dropped]
    for discount in dropped:
        session.delete(discount)
    session.flush()
    merged_lines = list(target_lines.values())
    total = orders.price(merged_lines, [*target_discounts, *carried]).total
    orders._check_paid(target, total)
    _bump(target, total)
    source.status = CANCELLED
    source.cancelled_at = source.updated_at = utcnow()
    source.version += 1
    source.merged_into_order_id = target.id
    session.flush()
    for discount_data in dropped_data:
        data = {"table_no": source.table_no, "discount": discount_data, "cause": "merged"}
        events.record_event(session, source, events.DISCOUNT_REMOVED, data, staff_id)
    moved_from = {
        "from_table": source.table_no,
        "to_table": target.table_no,
        "merged_into_order_id": target.id,
    }
    source_data = {
        "table_no": source.table_no,
        **moved_from,
        "status": CANCELLED,
        "version": source.version,
    }
    events.record_event(session, source, TRANSFERRED, source_data, staff_id)
    target_data = {
        "table_no": target.table_no,
        **moved_from,
        "merged_from_order_id": source.id,
        "version": target.version,
        "total": target.total_price,
        "lines": orders._lines_data(merged_lines),
    }
    events.record_event(session, target, TRANSFERRED, target_data, staff_id)
    return {
        "result": "merged",
        "order_id": target.id,
        "from_table": source.table_no,
        "to_table": target.table_no,
        "version": target.version,
        "merged_from_order_id": source.id,
        "total": target.total_price,
    }


# ---- move-lines


def move_lines(
    session: Session,
    store_id: int,
    table_no: int,
    to_table: int,
    wanted: Sequence[MoveLineIn],
    tz: str,
    staff_id: int | None,
) -> dict[str, Any]:
    """Move units of the source's lines to ``to_table``'s open order (opened if free).

    One transaction; both tables locked in ascending ``table_no`` (a free target is opened where
    its lock would be taken). Refusals write nothing: 422 ``same_table``; 404 ``no_open_order``;
    404 ``line_not_found``; 409 ``quantity_exceeds_line``, ``would_empty_source``,
    ``line_has_discount``, ``quantity_too_large``, ``discount_exceeds_base``,
    ``below_paid_total`` (see the module doc).
    """
    if to_table == table_no:
        raise _same_table(table_no)
    try:
        orders._serialize_writers(session)
        source: Order | None = None
        target: Order | None = None
        for table in sorted((table_no, to_table)):
            if table == table_no:
                source = _lock_open(session, store_id, table_no)
                if source is None:
                    raise _no_open_order()
            else:
                target = orders._lock_or_open(session, store_id, to_table, tz, staff_id)
        assert source is not None and target is not None
        answer = _move(session, source, target, wanted, staff_id)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return answer


def _resolve(lines: Sequence[OrderLine], wanted: Sequence[MoveLineIn]) -> list[MovedUnits]:
    by_id = {line.id: line for line in lines}
    by_key = {orders._key(line): line for line in lines}
    quantities: dict[int, int] = {}
    missing: dict[str, str] = {}
    for position, entry in enumerate(wanted):
        if entry.line_id is not None:
            line = by_id.get(entry.line_id)
        else:
            assert entry.item_id is not None
            line = by_key.get((entry.item_id, tuple(sorted(entry.options or []))))
        if line is None:
            missing[f"lines[{position}]"] = "no such line on the source order"
            continue
        quantities[line.id] = quantities.get(line.id, 0) + entry.quantity
    if missing:
        raise NotFound("옮길 줄이 주문에 없습니다.", code="line_not_found", fields=missing)
    too_many = {
        f"line_id={line_id}": f"the line has {by_id[line_id].quantity}"
        for line_id, quantity in quantities.items()
        if quantity > by_id[line_id].quantity
    }
    if too_many:
        raise Conflict(
            "줄에 있는 수량보다 많이 옮길 수 없습니다.",
            code="quantity_exceeds_line",
            fields=too_many,
        )
    return [MovedUnits(by_id[line_id], quantity) for line_id, quantity in quantities.items()]


def _copy_line(line: OrderLine, order_id: int, quantity: int) -> OrderLine:
    """A new line with ``line``'s snapshot (name, prices, options, tax) and ``quantity``."""
    return OrderLine(
        order_id=order_id,
        item_id=line.item_id,
        option_key=line.option_key,
        item_name=line.item_name,
        unit_price=line.unit_price,
        unit_cost=line.unit_cost,
        quantity=quantity,
        options=line.options,
        category_id=line.category_id,
        category_name=line.category_name,
        tax=line.tax,
    )


def _move(
    session: Session,
    source: Order,
    target: Order,
    wanted: Sequence[MoveLineIn],
    staff_id: int | None,
) -> dict[str, Any]:
    opened = target.version == 0
    source_lines = orders._lines(session, source.id)
    moves = _resolve(source_lines, wanted)
    if sum(move.quantity for move in moves) == sum(line.quantity for line in source_lines):
        raise Conflict(
            "모든 줄을 옮기려면 테이블 이동을 사용하세요.",
            code="would_empty_source",
            extra={"use": "POST /orders/tables/<table_no>/transfer"},
        )
    source_discounts = orders._discounts(session, source.id)
    target_lines = (
        {} if opened else {orders._key(line): line for line in orders._lines(session, target.id)}
    )
    target_discounts = [] if opened else orders._discounts(session, target.id)
    discounted = _line_discounted([*source_discounts, *target_discounts])
    clashes: list[int] = []
    for move in moves:
        meeting = target_lines.get(orders._key(move.line))
        if move.line.id in discounted and (
            meeting is not None or move.quantity < move.line.quantity
        ):
            clashes.append(move.line.id)
        if meeting is not None and meeting.id in discounted:
            clashes.append(meeting.id)
    if clashes:
        raise _line_has_discount(clashes)
    moved_data = [
        {
            "line_id": move.line.id,
            "item_id": move.line.item_id,
            "options": orders._option_ids(move.line),
            "quantity": move.quantity,
        }
        for move in moves
    ]
    carried: list[OrderDiscount] = []
    kept_lines = {line.id: line for line in source_lines}
    for move in moves:
        key = orders._key(move.line)
        meeting = target_lines.get(key)
        whole = move.quantity == move.line.quantity
        if meeting is not None:
            meeting.quantity += move.quantity
        elif whole:
            move.line.order_id = target.id  # keeps its line_id and its line discounts
            target_lines[key] = move.line
            carried += [d for d in source_discounts if d.line_id == move.line.id]
        else:
            target_lines[key] = _copy_line(move.line, target.id, move.quantity)
            session.add(target_lines[key])
        if whole:
            del kept_lines[move.line.id]
            if meeting is not None:
                session.delete(move.line)
        else:
            move.line.quantity -= move.quantity
    _check_target_quantities(list(target_lines.values()))
    for discount in carried:
        discount.order_id = target.id
    session.flush()  # new line ids, which pricing and the events name lines by
    staying = [d for d in source_discounts if d not in carried]
    source_total = orders.price(list(kept_lines.values()), staying).total
    orders._check_paid(source, source_total)
    target_total = orders.price(list(target_lines.values()), [*target_discounts, *carried]).total
    _bump(source, source_total)
    _bump(target, target_total)
    session.flush()
    if opened:
        data = {"table_no": target.table_no, "business_date": target.business_date.isoformat()}
        events.record_event(session, target, events.OPENED, data, staff_id)
    route = {
        "from_table": source.table_no,
        "from_order_id": source.id,
        "to_table": target.table_no,
        "to_order_id": target.id,
        "lines": moved_data,
    }
    for order, lines in ((source, kept_lines.values()), (target, target_lines.values())):
        data = {
            "table_no": order.table_no,
            **route,
            "version": order.version,
            "total": order.total_price,
            "lines_after": orders._lines_data(lines),
        }
        events.record_event(session, order, LINES_MOVED, data, staff_id)
    return {
        "from_order_id": source.id,
        "from_table": source.table_no,
        "from_version": source.version,
        "from_total": source.total_price,
        "to_order_id": target.id,
        "to_table": target.table_no,
        "to_version": target.version,
        "to_total": target.total_price,
        "lines": moved_data,
    }


# ---- the audit trail


def order_events(session: Session, store_id: int, order_id: int, tz: str) -> list[dict[str, Any]]:
    """The order's own events in ``seq`` order (404 ``order_not_found``, also another store's)."""
    orders.order_for_store(session, store_id, order_id)
    rows = session.scalars(
        select(OrderEvent)
        .where(OrderEvent.order_id == order_id, OrderEvent.store_id == store_id)
        .order_by(OrderEvent.seq)
    ).all()
    trail = [
        {
            "seq": row.seq,
            "type": row.type,
            "at": iso(row.created_at, tz),
            "staff_id": row.staff_id,
            "data": json.loads(row.data),
        }
        for row in rows
    ]
    session.rollback()
    return trail


def _at(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["at"])


def with_refunds(
    trail: list[dict[str, Any]], refunds: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``trail`` with the sale service's refunds placed by time (type ``refund``, ``seq`` null).

    The order's events keep their ``seq`` order; each refund goes after the last entry not later
    than it (so after the payment it reverses, recorded before it).
    """
    result = list(trail)
    entries = [
        {
            "seq": None,
            "type": REFUND,
            "at": refund["created_at"],
            "staff_id": refund.get("staff_id"),
            "data": {key: refund.get(key) for key in ("refund_id", "sale_id", "amount", "reason")},
        }
        for refund in refunds
    ]
    for entry in sorted(entries, key=_at):
        index = len(result)
        while index > 0 and _at(result[index - 1]) > _at(entry):
            index -= 1
        result.insert(index, entry)
    return result
