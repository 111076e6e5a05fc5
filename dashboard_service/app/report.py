"""Report math as pure functions over the data owners' aggregates (no I/O, no Flask).

Inputs are the bodies of the internal calls (docs/internal-api.md):

- order ``item-sales`` rows: one per (business day, item) with ``sales_volume``, ``cost_total``
  (lines that had a unit cost when paid) and ``uncosted_quantity`` / ``uncosted_first_paid_at``;
- item ``cost-history`` for the items with uncosted quantity: such lines count the earliest cost
  entered *after* they were paid (the contract's rule), or 0 when none was ever entered;
- sale ``daily-totals``: paid sales per business day, refunds netted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from salesync_common.pricing import Figures
from salesync_common.timeutil import aware, days


@dataclass
class ItemFigures:
    item_id: int
    name: str
    quantity: int = 0
    sales_volume: int = 0
    profit: int = 0
    uncosted: bool = False  # some units counted cost 0: no cost was ever entered for them
    _name_day: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "name": self.name,
            "sales_volume": self.sales_volume,
            "profit": self.profit,
            "quantity": self.quantity,
        }


@dataclass
class Report:
    start: date
    end: date
    sales_volume: int
    items: list[ItemFigures]
    days: list[dict[str, Any]] = field(default_factory=list)

    @property
    def uncosted_items(self) -> list[int]:
        return sorted(item.item_id for item in self.items if item.uncosted)

    def items_json(self) -> list[dict[str, Any]]:
        return [item.as_dict() for item in self.items]


def parse_instant(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return aware(moment)


def items_needing_history(rows: Iterable[Mapping[str, Any]]) -> list[int]:
    """Items whose lines were paid without a unit cost: only these need the cost history."""
    return sorted(
        {int(row["item_id"]) for row in rows if int(row.get("uncosted_quantity") or 0) > 0}
    )


def later_cost(history: list[Mapping[str, Any]], paid_at: datetime | None) -> int | None:
    """The earliest non-null cost whose ``effective_from`` is at or after ``paid_at``."""
    candidates = [
        (parse_instant(entry["effective_from"]), int(entry["cost"]))
        for entry in history
        if entry.get("cost") is not None and entry.get("effective_from")
    ]
    if paid_at is not None:
        candidates = [(at, cost) for at, cost in candidates if at is not None and at >= paid_at]
    if not candidates:
        return None
    return min(candidates, key=lambda pair: pair[0] or datetime.min.replace(tzinfo=UTC))[1]


def row_profit(row: Mapping[str, Any], history: list[Mapping[str, Any]]) -> tuple[int, bool]:
    """Profit of one (day, item) row and whether some of its units had no cost at all."""
    profit = int(row["sales_volume"]) - int(row.get("cost_total") or 0)
    uncosted_quantity = int(row.get("uncosted_quantity") or 0)
    if uncosted_quantity <= 0:
        return profit, False
    cost = later_cost(history, parse_instant(row.get("uncosted_first_paid_at")))
    if cost is None:
        return profit, True  # counts cost 0, as the contract says
    return profit - uncosted_quantity * cost, False


def build_report(
    start: date,
    end: date,
    rows: Iterable[Mapping[str, Any]],
    histories: Mapping[int, list[Mapping[str, Any]]],
    daily_totals: Mapping[str, Any],
) -> Report:
    items: dict[int, ItemFigures] = {}
    profit_by_day: dict[str, int] = {}
    for row in rows:
        item_id = int(row["item_id"])
        day = str(row["date"])
        profit, uncosted = row_profit(row, list(histories.get(item_id, [])))
        name = str(row["item_name"])
        figures = items.setdefault(item_id, ItemFigures(item_id=item_id, name=name))
        if day >= figures._name_day:  # the name of the most recent day wins
            figures.name, figures._name_day = name, day
        figures.quantity += int(row["quantity"])
        figures.sales_volume += int(row["sales_volume"])
        figures.profit += profit
        figures.uncosted = figures.uncosted or uncosted
        profit_by_day[day] = profit_by_day.get(day, 0) + profit

    sales_by_day = {str(d["date"]): int(d["sales_volume"]) for d in daily_totals.get("days", [])}
    series = [
        {
            "date": day.isoformat(),
            "sales_volume": sales_by_day.get(day.isoformat(), 0),
            "profit": profit_by_day.get(day.isoformat(), 0),
        }
        for day in days(start, end)
    ]
    # Python's sort is stable; item id breaks ties so the order never depends on the input order.
    ordered = sorted(items.values(), key=lambda item: (-item.sales_volume, item.item_id))
    return Report(
        start=start,
        end=end,
        sales_volume=int(daily_totals.get("sales_volume", 0)),
        items=ordered,
        days=series,
    )


PAYMENT_TYPES = ("card", "cash", "other")


def build_summary(
    order_summary: Mapping[str, Any], daily_totals: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``/dashboard/summary`` figures from the two owners' answers (pure).

    Sales (gross, discounts, taxable, exempt, VAT, order count, by hour/category/staff) are the
    order service's paid orders; refunds (with their taxable, exempt and VAT) the sale service's,
    counted on the business day of the sale they refund. Everything adds up through
    ``pricing.Figures``: ``net_sales = gross - discounts - refunds``. By payment type: what each
    tender took less what refunds gave back to it (tenders outside card/cash count as other).
    The breakdowns by hour, category and staff are of the sales, before refunds.
    """
    refunds = Figures()
    for day in daily_totals.get("days", []):
        refunds = refunds + Figures(
            refund_total=int(day["refunded"]),
            taxable_total=-_refunded_part(day, "taxable_total"),
            exempt_total=-_refunded_part(day, "exempt_total"),
            vat=-_refunded_part(day, "vat"),
        )
    sales = Figures(
        gross_sales=int(order_summary["gross_sales"]),
        discount_total=int(order_summary["discount_total"]),
        taxable_total=int(order_summary["taxable_total"]),
        exempt_total=int(order_summary["exempt_total"]),
        vat=int(order_summary["vat"]),
        order_count=int(order_summary["order_count"]),
    )
    figures = sales + refunds
    by_type = dict.fromkeys(PAYMENT_TYPES, 0)
    for row in daily_totals.get("by_payment_type", []):
        kind = str(row["payment_type"])
        by_type[kind if kind in by_type else "other"] += int(row["sales_volume"])
    return {
        "gross_sales": figures.gross_sales,
        "discount_total": figures.discount_total,
        "refund_total": figures.refund_total,
        "net_sales": figures.net_sales,
        "vat": figures.vat,
        "supply_value": figures.supply_value,
        "exempt_total": figures.exempt_total,
        "by_payment_type": by_type,
        "by_hour": [dict(row) for row in order_summary["by_hour"]],
        "by_category": [dict(row) for row in order_summary["by_category"]],
        "by_staff": [dict(row) for row in order_summary["by_staff"]],
        "order_count": figures.order_count,
        "average_check": figures.average_check,
    }


def _refunded_part(day: Mapping[str, Any], name: str) -> int:
    """What a day's refunds took off ``taxable_total``/``exempt_total``/``vat`` (sale service)."""
    return int(day.get(f"refund_{name}", 0))
