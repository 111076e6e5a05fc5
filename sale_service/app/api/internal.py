"""Internal endpoints for sibling services (service credential required, not routed by the BFF)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from salesync_common.api import endpoint
from salesync_common.types import Period

from .. import services
from ..models import db
from ..schemas import DailyTotalsOut

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
    return services.daily_totals(db.session, store_id, query.start, query.end)
