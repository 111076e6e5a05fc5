"""Dashboard use-cases: plain functions over a session and the sibling services' gateways.

Every cross-service read is one aggregated or batched call per data owner (``clients.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Table, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from salesync_common.db import rows_matched, upsert_insert
from salesync_common.errors import NotFound, bad_gateway
from salesync_common.timeutil import DEFAULT_TZ, utcnow

from .clients import Siblings
from .models import ConsultingResult, Settlement
from .report import Report, build_report, build_summary, items_needing_history
from .schemas import CostsIn, ResultEvent
from .sms import SmsSender, to_e164

log = logging.getLogger(__name__)

HISTORY_BATCH = 500  # the item service's limit of ids per call


# --------------------------------------------------------------------------- reports


def sales_report(siblings: Siblings, store_id: int, start: date, end: date) -> Report:
    order_body = siblings.orders.item_sales(store_id, start, end)
    try:
        rows = list(order_body["rows"])
        ids = items_needing_history(rows)
    except (KeyError, TypeError, ValueError) as exc:
        raise bad_gateway("order") from exc
    histories: dict[int, list[Mapping[str, Any]]] = {}
    for offset in range(0, len(ids), HISTORY_BATCH):  # one call unless > 500 uncosted items
        chunk = ids[offset : offset + HISTORY_BATCH]
        body = siblings.items.cost_history(store_id, chunk)
        try:
            for entry in body["items"]:
                histories[int(entry["item_id"])] = list(entry["history"])
        except (KeyError, TypeError, ValueError) as exc:
            raise bad_gateway("item") from exc
    totals = siblings.sales.daily_totals(store_id, start, end)
    try:
        return build_report(start, end, rows, histories, totals)
    except (KeyError, TypeError, ValueError) as exc:
        raise bad_gateway("order/sale") from exc


def summary_report(siblings: Siblings, store_id: int, start: date, end: date) -> dict[str, Any]:
    """The day-range summary: one call to the order service, one to the sale service."""
    orders = siblings.orders.order_summary(store_id, start, end)
    totals = siblings.sales.daily_totals(store_id, start, end)
    try:
        return build_summary(orders, totals)
    except (KeyError, TypeError, ValueError) as exc:
        raise bad_gateway("order/sale") from exc


# --------------------------------------------------------------------------- costs


def get_costs(siblings: Siblings, store_id: int) -> list[dict[str, Any]]:
    body = siblings.items.costs(store_id)
    if not isinstance(body.get("items"), list):
        raise bad_gateway("item")
    return body["items"]


def save_costs(siblings: Siblings, store_id: int, data: CostsIn) -> list[dict[str, Any]]:
    changes = data.flatten()
    if not changes:
        return []
    body = siblings.items.save_costs(store_id, changes)
    return list(body.get("items", []))


# --------------------------------------------------------------------------- settlement


def won(amount: int) -> str:
    return f"{amount:,}원"


def signed_won(amount: int) -> str:
    return f"+{won(amount)}" if amount > 0 else won(amount)


@dataclass(frozen=True)
class DayFigures:
    """What the settlement text of a business day says (sale service figures, closed shifts)."""

    sales_volume: int  # net of refunds: the first version's "매출 합계"
    payments: int
    vat: int = 0
    card: int = 0
    cash: int = 0
    other: int = 0
    cash_differences: tuple[tuple[int, int], ...] = ()  # (shift id, counted - expected) if closed


def settlement_text(store_name: str, day: date, figures: DayFigures) -> str:
    """Short lines for a phone: the first version's line, then net/VAT, tenders, shift counts."""
    lines = [
        f"[Salesync] {store_name} {day.isoformat()} 매출 합계 {won(figures.sales_volume)} "
        f"(결제 {figures.payments}건)",
        f"순매출 {won(figures.sales_volume)} / 부가세 {won(figures.vat)}",
        f"카드 {won(figures.card)} / 현금 {won(figures.cash)}"
        + (f" / 기타 {won(figures.other)}" if figures.other else ""),
    ]
    for shift_id, difference in figures.cash_differences:
        label = "시재 차액" if len(figures.cash_differences) == 1 else f"시재 차액(교대 {shift_id})"
        lines.append(f"{label} {signed_won(difference)}")
    return "\n".join(lines)


def day_figures(siblings: Siblings, store_id: int, day: date, tz: str) -> DayFigures:
    """The day's figures from the sale service: daily totals, and its closed shifts if any.

    The shifts endpoint may not exist on an older sale service: a 404 leaves the shift line out.
    """
    totals = siblings.sales.daily_totals(store_id, day, day)
    shifts = siblings.sales.shifts(store_id, day, tz)
    try:
        tenders = {"card": 0, "cash": 0, "other": 0}
        for row in totals.get("by_payment_type", []):
            kind = str(row["payment_type"])
            tenders[kind if kind in tenders else "other"] += int(row["sales_volume"])
        return DayFigures(
            sales_volume=int(totals["sales_volume"]),
            payments=int(totals["payments"]),
            vat=sum(int(row.get("vat", 0)) for row in totals.get("days", [])),
            cash_differences=tuple(
                (int(shift["shift_id"]), int(shift["difference"]))
                for shift in shifts
                if shift.get("status") == "closed" and shift.get("difference") is not None
            ),
            **tenders,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise bad_gateway("sale") from exc


def _insert_ignoring_duplicates(
    conn: Connection | Session, table: Table, values: dict[str, Any]
) -> int:
    """INSERT ... ON CONFLICT DO NOTHING (PostgreSQL and SQLite); returns rows inserted."""
    result = conn.execute(upsert_insert(conn)(table).values(**values).on_conflict_do_nothing())
    return rows_matched(result)


def send_settlement(
    session: Session,
    siblings: Siblings,
    sender: SmsSender,
    store_id: int,
    day: date,
    tz: str = DEFAULT_TZ,
) -> bool:
    """Text the day's figures to the store's phone, once per distinct text; True if sent now.

    False: this very text was sent already (a repeated tap sends nothing).
    """
    store = siblings.stores.store(store_id)
    if store is None:
        raise NotFound("존재하지 않는 매장입니다.", code="store_not_found")
    figures = day_figures(siblings, store_id, day, tz)
    sales_volume, payments = figures.sales_volume, figures.payments
    try:
        phone, store_name = str(store["phone"]), str(store["store_name"])
    except (KeyError, TypeError, ValueError) as exc:
        raise bad_gateway("store") from exc
    phone_e164 = to_e164(phone)
    text = settlement_text(store_name, day, figures)

    # The (store, day) row is created if missing and locked: concurrent taps wait here, so one
    # text goes out per distinct set of figures (the SNS call is bounded by its timeouts).
    _insert_ignoring_duplicates(
        session, Settlement.__table__, {"store_id": store_id, "business_date": day}
    )
    row = session.execute(
        select(Settlement)
        .where(Settlement.store_id == store_id, Settlement.business_date == day)
        .with_for_update()
    ).scalar_one()
    same = (
        row.text == text
        if row.text is not None
        else (row.sales_volume, row.payments) == (sales_volume, payments)
    )
    if row.sent_at is not None and same:
        session.commit()
        return False
    try:
        message_id = sender.send(phone_e164, text)
    except Exception:
        session.rollback()
        raise
    row.sales_volume, row.payments, row.text = sales_volume, payments, text
    row.message_id, row.sent_at = message_id, utcnow()
    session.commit()
    return True


# --------------------------------------------------------------------------- consulting results


def parse_result_event(value: Mapping[str, Any]) -> ResultEvent | None:
    try:
        return ResultEvent.model_validate(dict(value))
    except ValidationError:
        log.warning("skipping a consulting result that does not match the schema")
        return None


def store_result(conn: Connection, event: ResultEvent) -> bool:
    """Store one result; a duplicate ``req_id`` (redelivery) is ignored. True if stored now."""
    inserted = _insert_ignoring_duplicates(
        conn,
        ConsultingResult.__table__,
        {
            "req_id": event.req_id,
            "store_id": event.store_id,
            "status": event.status,
            "advice": event.advice,
            "model": event.model,
            "event_id": event.event_id,
            "created_at": event.created_at,
            "received_at": utcnow(),
        },
    )
    return inserted > 0


def find_result(session: Session, store_id: int, req_id: str) -> ConsultingResult | None:
    """The store's own result, None when not (yet) delivered; another store's id is a 404."""
    row = session.execute(
        select(ConsultingResult).where(ConsultingResult.req_id == req_id)
    ).scalar_one_or_none()
    if row is not None and row.store_id != store_id:
        raise NotFound("존재하지 않는 컨설팅 요청입니다.", code="consulting_not_found")
    return row
