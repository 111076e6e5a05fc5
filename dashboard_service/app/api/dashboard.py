"""Public dashboard endpoints, exactly as the contract describes them."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app

from salesync_common.api import endpoint
from salesync_common.auth import current_identity, current_store_id
from salesync_common.errors import NotFound
from salesync_common.ratelimit import rate_limit, store_or_ip_key
from salesync_common.types import REQ_ID_PATTERN, Period, PeriodQuery

from .. import services
from ..clients import siblings
from ..models import db
from ..report import Report
from ..schemas import (
    ConsultingOut,
    CostsIn,
    CostsOut,
    CostsSavedOut,
    DateQuery,
    SalesOut,
    SettlementOut,
    SummaryOut,
    VolumesOut,
)

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
TAGS = ("dashboard",)
_REQ_ID = re.compile(REQ_ID_PATTERN)
NOT_COMPLETED = {"result": "not completed", "message": "컨설팅 진행 중"}
SETTLED_MESSAGE = "정산 완료: 메시지 전송 완료"


def sales_body(period: Period) -> dict[str, Any]:
    """The ``/dashboard/sales`` answer (the internal report adds days and uncosted items)."""
    report = services.sales_report(siblings(), current_store_id(), period.start, period.end)
    return report_body(report, period)


def report_body(report: Report, period: Period) -> dict[str, Any]:
    return {
        "result": "success",
        "message": "매출 조회 성공",
        "start_date": period.start.isoformat(),
        "end_date": period.end.isoformat(),
        "sales_volume": report.sales_volume,
        "items": report.items_json(),
    }


@bp.get("/sales")
@endpoint(
    "Sales and profit per item over [start, end] (query start, end: YYYY-MM-DD)",
    permission="reports",
    query=PeriodQuery,
    responses={200: SalesOut, 400: None},
    extra_errors=(502, 503, 504),
    tags=TAGS,
)
def sales(query: PeriodQuery) -> dict[str, Any]:
    return sales_body(query)


@bp.get("/volumes")
@endpoint(
    "Sales and profit per business day over [start, end], zeros included (≤ 366 days)",
    permission="reports",
    query=PeriodQuery,
    responses={200: VolumesOut, 400: None},
    extra_errors=(502, 503, 504),
    tags=TAGS,
)
def volumes(query: PeriodQuery) -> dict[str, Any]:
    period = query
    report = services.sales_report(siblings(), current_store_id(), period.start, period.end)
    return {
        "result": "success",
        "message": "기간별 매출 조회 성공",
        "start_date": period.start.isoformat(),
        "end_date": period.end.isoformat(),
        "total": report.days,
    }


def summary_body(period: Period) -> dict[str, Any]:
    """The ``/dashboard/summary`` answer (``/bff/summary`` returns it as it is)."""
    figures = services.summary_report(siblings(), current_store_id(), period.start, period.end)
    return {
        "result": "success",
        "message": "요약 조회 성공",
        "start_date": period.start.isoformat(),
        "end_date": period.end.isoformat(),
        **figures,
    }


@bp.get("/summary")
@endpoint(
    "The period's summary: gross, discounts, refunds, net, VAT, tenders, by hour/category/staff",
    permission="reports",
    query=PeriodQuery,
    responses={200: SummaryOut, 400: None},
    extra_errors=(502, 503, 504),
    tags=TAGS,
    description="Query `start`, `end` (YYYY-MM-DD, business days of payment, at most 366 days; "
    "bad or reversed dates answer 400 like `/dashboard/sales`). `net_sales` = `gross_sales` - "
    "`discount_total` - `refund_total` and equals `sales_volume` of `/dashboard/sales` for the "
    "same period. A refund counts on the business day of the sale it refunds. `by_staff` "
    "credits an order to the staff who took the payment that settled it (null = the owner).",
)
def summary(query: PeriodQuery) -> dict[str, Any]:
    return summary_body(query)


@bp.get("/costs")
@endpoint(
    "Items with their unit cost, by category",
    permission="costs",
    responses={200: CostsOut},
    tags=TAGS,
)
def costs() -> dict[str, Any]:
    return {
        "result": "success",
        "message": "원가 조회 성공",
        "items": services.get_costs(siblings(), current_store_id()),
    }


@bp.post("/costs")
@endpoint(
    "Save edited unit costs (all or nothing; cost null = unchanged)",
    permission="costs",
    body=CostsIn,
    responses={200: CostsSavedOut},
    tags=TAGS,
)
def save_costs(body: CostsIn) -> dict[str, Any]:
    return {
        "result": "success",
        "message": "원가 등록 성공",
        "items": services.save_costs(siblings(), current_store_id(), body),
    }


@bp.get("/calculate")
@rate_limit("settlement_rate_limit", key=store_or_ip_key)  # texts cost money
@endpoint(
    "Settlement: text the day's total to the owner's phone (once per distinct figures)",
    permission="reports",
    query=DateQuery,
    responses={200: SettlementOut, 400: None},
    extra_errors=(422, 429, 502, 503, 504),
    tags=TAGS,
)
def calculate(query: DateQuery) -> dict[str, Any]:
    sender = current_app.extensions["dashboard_sms"]
    identity = current_identity()
    sent_now = services.send_settlement(
        db.session(), siblings(), sender, identity.store_id, query.date, identity.tz
    )
    return {"result": "success", "message": SETTLED_MESSAGE, "already_sent": not sent_now}


def consulting_body(req_id: str) -> dict[str, Any]:
    if not _REQ_ID.match(req_id):
        raise NotFound("존재하지 않는 컨설팅 요청입니다.", code="consulting_not_found")
    row = services.find_result(db.session(), current_store_id(), req_id)
    if row is None:
        # Not delivered yet (or never asked): the dashboard only knows what Kafka brought.
        return dict(NOT_COMPLETED)
    if row.status != "succeeded":
        return {"result": "failed", "message": "컨설팅 생성에 실패했습니다. 다시 요청해 주세요."}
    return {"result": "success", "message": "상담 요청 조회 성공", "consulting": row.advice or ""}


@bp.get("/consulting/<req_id>")
@endpoint(
    "The advice for a consulting request (never blocks)",
    permission="reports",
    responses={200: ConsultingOut, 404: None},
    tags=TAGS,
)
def consulting(req_id: str) -> dict[str, Any]:
    return consulting_body(req_id)


@bp.get("/consulting/test/<req_id>")
@endpoint(
    "Same as /dashboard/consulting/<req_id> (path the frontend ships with)",
    permission="reports",
    responses={200: ConsultingOut, 404: None},
    tags=TAGS,
)
def consulting_test(req_id: str) -> dict[str, Any]:
    return consulting_body(req_id)
