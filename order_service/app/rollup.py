"""Daily item totals of paid orders, kept up to date in the pay transaction.

``record_payment`` adds a paid order's lines to ``daily_item_sales`` (an upsert per item, in
the same transaction that marks the order paid, so the totals can never disagree with the
orders). Per item: ``gross`` = Σ amount (unit price x quantity), ``discount`` = Σ the lines'
``discount`` (their own and allocated order discounts, frozen by ``pricing`` at payment),
``sales_volume`` = gross - discount: the lines' net, so the items of a day sum to its orders'
totals. ``rebuild`` recomputes the rows from the orders themselves: used by the migration that
introduced the table and by bulk loads that write orders directly.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import case, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from .models import DailyItemSales, OrderLine


def record_payment(
    session: Session, store_id: int, day: date, paid_at: datetime, lines: list[OrderLine]
) -> None:
    """Add a paid order's lines (with their frozen ``discount``) to the day's item rows."""
    if not lines:
        return
    # one row per item: lines of one item with different options add up before the upsert
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
    rows = [by_item[item_id] for item_id in sorted(by_item)]
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(DailyItemSales).values(rows)
    new, existing = statement.excluded, DailyItemSales
    session.execute(
        statement.on_conflict_do_update(
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
    )


_LATEST_NAME = {
    "postgresql": "(array_agg(l.item_name ORDER BY o.paid_at DESC))[1]",
    "sqlite": "max(l.item_name)",
}


def rebuild(connection: Connection | Session | Any, store_id: int | None = None) -> None:
    """Recompute the daily rows from the paid orders (one store, or all of them).

    Uses the lines' ``discount`` frozen at payment, so it gives exactly what ``record_payment``
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
