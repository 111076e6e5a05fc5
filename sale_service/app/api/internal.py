"""Internal endpoints for sibling services (service credential required, not routed by the BFF)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from salesync_common.api import endpoint
from salesync_common.auth import DEFAULT_TZ
from salesync_common.types import Period

from .. import receipts, refunds, sales, shifts
from ..clients import order_gateway, store_gateway
from ..models import db
from ..schemas import (
    DailyTotalsOut,
    ReceiptOut,
    ReceiptQuery,
    RefundsOut,
    ShiftsOfDayOut,
    ShiftsOfDayQuery,
)

bp = Blueprint("internal_sales", __name__, url_prefix="/internal/stores")


@bp.get("/<id:store_id>/daily-totals")
@endpoint(
    "Completed sales per business day and per payment type, refunds netted (dashboard)",
    auth="service",
    query=Period,
    responses={200: DailyTotalsOut},
    tags=("internal",),
)
def daily_totals(store_id: int, query: Period) -> dict[str, Any]:
    return sales.daily_totals(db.session(), store_id, query.start, query.end)


@bp.get("/<id:store_id>/orders/<id:order_id>/receipt")
@endpoint(
    "The receipt of a paid order (order service: GET /orders/<order_id>/receipt); a reprint",
    auth="service",
    query=ReceiptQuery,
    responses={200: ReceiptOut},
    extra_errors=(404,),
    tags=("internal",),
)
def order_receipt(store_id: int, order_id: int, query: ReceiptQuery) -> dict[str, Any]:
    return receipts.receipt_by_order(
        db.session(), order_gateway(), store_gateway(), store_id, order_id, query.tz or DEFAULT_TZ
    )


@bp.get("/<id:store_id>/orders/<id:order_id>/refunds")
@endpoint(
    "The order's refunds, oldest first (its audit trail)",
    auth="service",
    query=ReceiptQuery,
    responses={200: RefundsOut},
    tags=("internal",),
)
def order_refunds(store_id: int, order_id: int, query: ReceiptQuery) -> dict[str, Any]:
    rows = refunds.refunds_of_order(db.session(), store_id, order_id, query.tz or DEFAULT_TZ)
    keys = ("refund_id", "sale_id", "amount", "reason", "staff_id", "created_at")
    return {"refunds": [{key: row[key] for key in keys} for row in rows]}


@bp.get("/<id:store_id>/shifts")
@endpoint(
    "The store's shifts opened on a business day, with their cash figures (settlement text)",
    auth="service",
    query=ShiftsOfDayQuery,
    responses={200: ShiftsOfDayOut},
    tags=("internal",),
    description=(
        "Open and closed shifts whose business day of opening is `date`, oldest first; "
        "`expected_cash`, `counted_cash` and `difference` are null while a shift is open."
    ),
)
def shifts_of_day(store_id: int, query: ShiftsOfDayQuery) -> dict[str, Any]:
    tz = query.tz or DEFAULT_TZ
    return {"shifts": shifts.shifts_of_day(db.session(), store_id, query.date, tz)}
