"""Daily totals of paid orders, kept up to date in the pay transaction.

``record_paid_order`` adds a paid order to three rollups, in the same transaction that marks the
order paid, so the totals can never disagree with the orders:

- ``daily_item_sales`` (per day and item): ``gross`` = Σ amount (unit price x quantity),
  ``discount`` = Σ the lines' ``discount`` (their own and allocated order discounts, frozen by
  ``pricing`` at payment), ``sales_volume`` = gross - discount: the lines' net, so the items of a
  day sum to its orders' totals; costs from the lines' snapshots;
- ``daily_order_sales`` (per day, local hour of payment and settling staff): order count, gross,
  discounts, taxable, exempt, VAT from the order's ``pricing`` figures;
- ``daily_category_sales`` (per day and category): quantity, gross, net of the lines.

``rebuild`` recomputes the rows from the orders themselves (used by the migration that introduced
the tables and by bulk loads that write orders directly), each order's VAT through
``pricing.vat_of`` (never in SQL), so a rebuild gives exactly what the payments kept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from salesync_common import pricing
from salesync_common.db import WriteBatch, upsert_insert
from salesync_common.timeutil import DEFAULT_TZ, aware, zone

from .models import (
    NO_CATEGORY_KEY,
    OWNER_STAFF_KEY,
    DailyCategorySales,
    DailyItemSales,
    DailyOrderSales,
    Order,
    OrderLine,
    OrderPayment,
)


def local_hour(moment: datetime, tz: str | None) -> int:
    """The hour (0-23) of ``moment`` on the store's clock (naive = UTC, as SQLite stores it)."""
    return aware(moment).astimezone(zone(tz)).hour


@functools.cache
def _adding_statement(
    insert: Callable[..., Any],
    model: Any,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    latest: tuple[str, ...],
) -> Any:
    table = model.__table__
    # The rows are parameters of the statement (not baked into it), so it is built once and its
    # compiled form cached whatever the number of rows; the driver still sends one INSERT.
    statement = insert(table)
    updates: dict[str, Any] = {
        name: table.c[name] + statement.excluded[name]
        for name in columns
        if name not in keys and name not in latest
    }
    updates.update({name: statement.excluded[name] for name in latest})
    return statement.on_conflict_do_update(index_elements=list(keys), set_=updates)


def _upsert_adding(
    session: Session | Connection,
    model: Any,
    rows: list[dict[str, Any]],
    keys: Sequence[str],
    latest: Sequence[str] = (),
) -> None:
    """Insert ``rows``, or add their counters to the existing rows (``latest`` columns replaced)."""
    if not rows:
        return
    statement = _adding_statement(
        upsert_insert(session), model, tuple(rows[0]), tuple(keys), tuple(latest)
    )
    session.execute(statement, rows)


def record_paid_order(
    session: Session,
    order: Order,
    priced: pricing.PricedOrder,
    lines: Sequence[OrderLine],
    settled_by: int | None,
    writes: WriteBatch | None = None,
) -> None:
    """Add a just-paid order to the three daily rollups (same transaction as the payment).

    ``priced`` is the order's final pricing; ``lines`` carry their frozen ``discount`` and cost
    snapshot; ``settled_by`` the staff who took the settling payment (None: the owner). The rows
    are summed here (one per item, one per category) and added to the stored ones by upserts,
    in key order. On PostgreSQL the three upserts are one statement (the rows as arrays), so a
    payment pays one round trip and one plan for its rollups whatever its number of lines
    (none of its own when queued on the payment's ``writes``).
    """
    assert order.paid_business_date is not None and order.paid_hour is not None
    assert order.paid_at is not None
    summary = {
        "store_id": order.store_id,
        "business_date": order.paid_business_date,
        "hour": order.paid_hour,
        "staff_key": OWNER_STAFF_KEY if settled_by is None else settled_by,
        "order_count": 1,
        "gross": priced.subtotal,
        "discount": priced.discount_total,
        "taxable_total": priced.taxable_total,
        "exempt_total": priced.exempt_total,
        "vat": priced.vat,
    }
    items = _item_rows(order.store_id, order.paid_business_date, order.paid_at, lines)
    categories = _category_rows(order.store_id, order.paid_business_date, lines)
    if session.get_bind().dialect.name == "postgresql":
        (writes.add if writes is not None else session.execute)(
            _ROLLUPS,
            {
                **summary,
                "paid_at": order.paid_at,
                **{f"item_{name}": [row[name] for row in items] for name in _ITEM_ARRAYS},
                **{
                    f"category_{name}": [row[name] for row in categories]
                    for name in _CATEGORY_ARRAYS
                },
            },
        )
        return
    _upsert_adding(session, DailyOrderSales, [summary], _ORDER_KEY)
    if items:
        session.execute(_item_sales_statement(upsert_insert(session)), items)
    _upsert_adding(
        session, DailyCategorySales, categories, _CATEGORY_KEY, latest=("category_name",)
    )


_ORDER_KEY = ("store_id", "business_date", "hour", "staff_key")
_CATEGORY_KEY = ("store_id", "business_date", "category_key")
_ITEM_ARRAYS = (
    "item_id",
    "item_name",
    "quantity",
    "gross",
    "discount",
    "sales_volume",
    "cost_total",
    "uncosted_quantity",
)
_CATEGORY_ARRAYS = ("category_key", "category_name", "quantity", "gross", "net")

# The rollups of one paid order in one PostgreSQL statement: the item and category rows arrive
# as arrays (unnest), the order's summary row as values. Each upsert adds to the stored row, as
# ``_adding_statement`` and ``_item_sales_statement`` do on SQLite; the three tables are
# distinct, so no row is touched twice.
_ROLLUPS = text(
    """
    WITH items AS (
        INSERT INTO daily_item_sales AS existing (store_id, business_date, item_id, item_name,
            quantity, gross, discount, sales_volume, cost_total, uncosted_quantity,
            uncosted_first_paid_at, last_paid_at)
        SELECT :store_id, :business_date, new.item_id, new.item_name, new.quantity, new.gross,
               new.discount, new.sales_volume, new.cost_total, new.uncosted_quantity,
               CASE WHEN new.uncosted_quantity > 0 THEN CAST(:paid_at AS timestamptz) END,
               :paid_at
        FROM unnest(CAST(:item_item_id AS bigint[]), CAST(:item_item_name AS varchar[]),
                    CAST(:item_quantity AS bigint[]), CAST(:item_gross AS bigint[]),
                    CAST(:item_discount AS bigint[]), CAST(:item_sales_volume AS bigint[]),
                    CAST(:item_cost_total AS bigint[]), CAST(:item_uncosted_quantity AS bigint[]))
             AS new (item_id, item_name, quantity, gross, discount, sales_volume, cost_total,
                     uncosted_quantity)
        ORDER BY new.item_id
        ON CONFLICT (store_id, business_date, item_id) DO UPDATE SET
            quantity = existing.quantity + excluded.quantity,
            gross = existing.gross + excluded.gross,
            discount = existing.discount + excluded.discount,
            sales_volume = existing.sales_volume + excluded.sales_volume,
            cost_total = existing.cost_total + excluded.cost_total,
            uncosted_quantity = existing.uncosted_quantity + excluded.uncosted_quantity,
            -- the row lock orders payments of one (day, item): the first uncosted one stays
            uncosted_first_paid_at = COALESCE(existing.uncosted_first_paid_at,
                                              excluded.uncosted_first_paid_at),
            item_name = excluded.item_name,
            last_paid_at = excluded.last_paid_at
    ), categories AS (
        INSERT INTO daily_category_sales AS existing (store_id, business_date, category_key,
            category_name, quantity, gross, net)
        SELECT :store_id, :business_date, new.category_key, new.category_name, new.quantity,
               new.gross, new.net
        FROM unnest(CAST(:category_category_key AS bigint[]),
                    CAST(:category_category_name AS varchar[]),
                    CAST(:category_quantity AS bigint[]), CAST(:category_gross AS bigint[]),
                    CAST(:category_net AS bigint[]))
             AS new (category_key, category_name, quantity, gross, net)
        ORDER BY new.category_key
        ON CONFLICT (store_id, business_date, category_key) DO UPDATE SET
            quantity = existing.quantity + excluded.quantity,
            gross = existing.gross + excluded.gross,
            net = existing.net + excluded.net,
            category_name = excluded.category_name
    )
    INSERT INTO daily_order_sales AS existing (store_id, business_date, hour, staff_key,
        order_count, gross, discount, taxable_total, exempt_total, vat)
    VALUES (:store_id, :business_date, :hour, :staff_key, :order_count, :gross, :discount,
            :taxable_total, :exempt_total, :vat)
    ON CONFLICT (store_id, business_date, hour, staff_key) DO UPDATE SET
        order_count = existing.order_count + excluded.order_count,
        gross = existing.gross + excluded.gross,
        discount = existing.discount + excluded.discount,
        taxable_total = existing.taxable_total + excluded.taxable_total,
        exempt_total = existing.exempt_total + excluded.exempt_total,
        vat = existing.vat + excluded.vat
    """
)


def _category_rows(store_id: int, day: date, lines: Sequence[OrderLine]) -> list[dict[str, Any]]:
    """One row per category of the lines (quantity, gross, net), in key order."""
    by_category: dict[int, dict[str, Any]] = {}
    for line in lines:
        key = NO_CATEGORY_KEY if line.category_id is None else line.category_id
        row = by_category.setdefault(
            key,
            {
                "store_id": store_id,
                "business_date": day,
                "category_key": key,
                "category_name": line.category_name,
                "quantity": 0,
                "gross": 0,
                "net": 0,
            },
        )
        amount = line.unit_price * line.quantity
        row["quantity"] += line.quantity
        row["gross"] += amount
        row["net"] += amount - line.discount
    return [by_category[key] for key in sorted(by_category)]


def _item_rows(
    store_id: int, day: date, paid_at: datetime, lines: Sequence[OrderLine]
) -> list[dict[str, Any]]:
    """One row per item of the lines, in key order: lines of one item with different options
    add up (a row of ``daily_item_sales`` to add)."""
    by_item: dict[int, dict[str, Any]] = {}
    for line in lines:
        amount = line.unit_price * line.quantity
        row = by_item.setdefault(
            line.item_id,
            {
                "store_id": store_id,
                "business_date": day,
                "item_id": line.item_id,
                "item_name": line.item_name,
                "quantity": 0,
                "gross": 0,
                "discount": 0,
                "sales_volume": 0,
                "cost_total": 0,
                "uncosted_quantity": 0,
                "uncosted_first_paid_at": None,
                "last_paid_at": paid_at,
            },
        )
        row["quantity"] += line.quantity
        row["gross"] += amount
        row["discount"] += line.discount
        row["sales_volume"] += amount - line.discount
        if line.unit_cost is None:
            row["uncosted_quantity"] += line.quantity
            row["uncosted_first_paid_at"] = paid_at
        else:
            row["cost_total"] += line.unit_cost * line.quantity
    return [by_item[item_id] for item_id in sorted(by_item)]


@functools.cache
def _item_sales_statement(insert: Callable[..., Any]) -> Any:
    statement = insert(DailyItemSales.__table__)  # rows as parameters: see _adding_statement
    new, existing = statement.excluded, DailyItemSales.__table__.c
    return statement.on_conflict_do_update(
        index_elements=["store_id", "business_date", "item_id"],
        set_={
            "quantity": existing.quantity + new.quantity,
            "sales_volume": existing.sales_volume + new.sales_volume,
            "gross": existing.gross + new.gross,
            "discount": existing.discount + new.discount,
            "cost_total": existing.cost_total + new.cost_total,
            "uncosted_quantity": existing.uncosted_quantity + new.uncosted_quantity,
            # the row lock orders payments of one (day, item): the first uncosted one stays
            "uncosted_first_paid_at": case(
                (existing.uncosted_first_paid_at.is_(None), new.uncosted_first_paid_at),
                else_=existing.uncosted_first_paid_at,
            ),
            "item_name": new.item_name,  # the latest payment's snapshot name
            "last_paid_at": new.last_paid_at,
        },
    )


_LATEST_NAME = {
    "postgresql": "(array_agg(l.item_name ORDER BY o.paid_at DESC))[1]",
    "sqlite": "max(l.item_name)",
}


def rebuild(connection: Connection | Session | Any, store_id: int | None = None) -> None:
    """Recompute the daily rows from the paid orders (one store, or all of them).

    Uses the lines' ``discount`` frozen at payment, so it gives exactly what ``record_paid_order``
    kept (tested).
    """
    # a migration passes its Connection; code and tests pass a (scoped) session
    bind = connection if isinstance(connection, Connection) else connection.get_bind()
    dialect = bind.dialect.name
    scope = "" if store_id is None else "AND o.store_id = :store_id"
    params: dict[str, Any] = {} if store_id is None else {"store_id": store_id}
    where = "" if store_id is None else "WHERE store_id = :store_id"
    connection.execute(text("DELETE FROM daily_item_sales " + where), params)  # noqa: S608
    connection.execute(
        text(
            f"""
            INSERT INTO daily_item_sales (store_id, business_date, item_id, item_name, quantity,
                sales_volume, gross, discount, cost_total, uncosted_quantity,
                uncosted_first_paid_at, last_paid_at)
            SELECT o.store_id, o.paid_business_date, l.item_id, {_LATEST_NAME[dialect]},
                   sum(l.quantity), sum(l.unit_price * l.quantity - l.discount),
                   sum(l.unit_price * l.quantity), sum(l.discount),
                   sum(CASE WHEN l.unit_cost IS NULL THEN 0 ELSE l.unit_cost * l.quantity END),
                   sum(CASE WHEN l.unit_cost IS NULL THEN l.quantity ELSE 0 END),
                   min(CASE WHEN l.unit_cost IS NULL THEN o.paid_at END), max(o.paid_at)
            FROM orders o JOIN order_lines l ON l.order_id = o.id
            WHERE o.status = 'paid' {scope}
            GROUP BY o.store_id, o.paid_business_date, l.item_id
            """  # noqa: S608 - constant SQL, bound values
        ),
        params,
    )
    _rebuild_summary(connection, store_id)


def _rebuild_summary(connection: Connection | Session | Any, store_id: int | None) -> None:
    """Recompute ``daily_order_sales`` and ``daily_category_sales`` from the paid orders.

    One grouped read per order (its lines summed by tax) with its settling payment's staff;
    orders written in bulk without ``paid_hour`` or a payment row count in the default time
    zone's hour and for the owner.
    """
    scope = [Order.status == "paid"]
    if store_id is not None:
        scope.append(Order.store_id == store_id)
    for model in (DailyOrderSales, DailyCategorySales):
        statement = model.__table__.delete()
        if store_id is not None:
            statement = statement.where(model.__table__.c.store_id == store_id)
        connection.execute(statement)
    amount = OrderLine.unit_price * OrderLine.quantity
    vat_line = OrderLine.tax == "vat"
    settling = (
        select(OrderPayment.order_id, OrderPayment.staff_id)
        .where(OrderPayment.status == "paid")
        .subquery()
    )
    orders = connection.execute(
        select(
            Order.store_id,
            Order.paid_business_date,
            Order.paid_hour,
            Order.paid_at,
            settling.c.staff_id,
            _total(amount),
            _total(OrderLine.discount),
            _total(case((vat_line, amount - OrderLine.discount), else_=0)),
            _total(case((vat_line, 0), else_=amount - OrderLine.discount)),
        )
        .join(OrderLine, OrderLine.order_id == Order.id)
        .outerjoin(settling, settling.c.order_id == Order.id)
        .where(*scope)
        .group_by(Order.id, settling.c.staff_id)
    ).all()
    summary: dict[tuple[Any, ...], dict[str, Any]] = {}
    for sid, day, hour, paid_at, staff_id, gross, discount, taxable, exempt in orders:
        key = (
            sid,
            day,
            local_hour(paid_at, DEFAULT_TZ) if hour is None else hour,
            OWNER_STAFF_KEY if staff_id is None else staff_id,
        )
        row = summary.setdefault(
            key,
            dict(zip(("store_id", "business_date", "hour", "staff_key"), key, strict=True))
            | {
                "order_count": 0,
                "gross": 0,
                "discount": 0,
                "taxable_total": 0,
                "exempt_total": 0,
                "vat": 0,
            },
        )
        row["order_count"] += 1
        row["gross"] += int(gross)
        row["discount"] += int(discount)
        row["taxable_total"] += int(taxable)
        row["exempt_total"] += int(exempt)
        row["vat"] += pricing.vat_of(int(taxable))  # once per order, as at payment
    if summary:
        connection.execute(DailyOrderSales.__table__.insert(), list(summary.values()))
    category_key = case(
        (OrderLine.category_id.is_(None), NO_CATEGORY_KEY), else_=OrderLine.category_id
    )
    categories = connection.execute(
        select(
            Order.store_id,
            Order.paid_business_date,
            category_key,
            OrderLine.category_name,
            func.max(Order.paid_at),
            _total(OrderLine.quantity),
            _total(amount),
            _total(OrderLine.discount),
        )
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(*scope)
        .group_by(Order.store_id, Order.paid_business_date, category_key, OrderLine.category_name)
    ).all()
    by_category: dict[tuple[Any, ...], dict[str, Any]] = {}
    named_at: dict[tuple[Any, ...], Any] = {}
    for sid, day, key, name, last_paid, quantity, gross, discount in categories:
        row = by_category.setdefault(
            (sid, day, key),
            {
                "store_id": sid,
                "business_date": day,
                "category_key": key,
                "category_name": name,
                "quantity": 0,
                "gross": 0,
                "net": 0,
            },
        )
        if (sid, day, key) not in named_at or str(last_paid) > str(named_at[(sid, day, key)]):
            row["category_name"], named_at[(sid, day, key)] = name, last_paid  # latest name
        row["quantity"] += int(quantity)
        row["gross"] += int(gross)
        row["net"] += int(gross) - int(discount)
    if by_category:
        connection.execute(DailyCategorySales.__table__.insert(), list(by_category.values()))


def _total(column: Any) -> Any:
    return func.coalesce(func.sum(column), 0)
