"""Internal endpoints for the consulting service (service credential, never routed by the BFF)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from salesync_common.api import endpoint
from salesync_common.types import PeriodQuery

from .. import services
from ..clients import siblings
from ..models import ConsultingResult, db
from ..schemas import ConsultingStatusOut, SalesReportOut
from .dashboard import report_body

bp = Blueprint("internal_dashboard", __name__, url_prefix="/internal/stores")
TAGS = ("internal",)


@bp.get("/<id:store_id>/sales-report")
@endpoint(
    "The period's figures for the consulting prompt (sales + days + uncosted items)",
    auth="service",
    query=PeriodQuery,
    responses={200: SalesReportOut, 400: None},
    extra_errors=(502, 503, 504),
    tags=TAGS,
)
def sales_report(store_id: int, query: PeriodQuery) -> dict[str, Any]:
    period = query
    report = services.sales_report(siblings(), store_id, period.start, period.end)
    return {
        **report_body(report, period),
        "days": report.days,
        "uncosted_items": report.uncosted_items,
    }


@bp.get("/<id:store_id>/consulting/<req_id>")
@endpoint(
    "Has the dashboard received this consulting result? (status or null)",
    auth="service",
    responses={200: ConsultingStatusOut},
    tags=TAGS,
)
def consulting_status(store_id: int, req_id: str) -> dict[str, Any]:
    row = db.session.execute(
        db.select(ConsultingResult.status).where(
            ConsultingResult.req_id == req_id[:64], ConsultingResult.store_id == store_id
        )
    ).scalar_one_or_none()
    return {"status": row}
