"""What the dashboard reads (internal API): paid lines by day and item, the period summary."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from salesync_common import pricing
from salesync_common.timeutil import iso

from .models import (
    NO_CATEGORY_KEY,
    OWNER_STAFF_KEY,
    DailyCategorySales,
    DailyItemSales,
    DailyOrderSales,
)


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
