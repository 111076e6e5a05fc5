"""Consulting use-cases: ask (dedupe by store, period and figures) and report the status."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import date
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from salesync_common.errors import ApiError, NotFound, bad_gateway
from salesync_common.timeutil import utcnow

from .clients import DashboardGateway
from .models import ConsultingRequest

log = logging.getLogger(__name__)

RequestStatus = Literal["pending", "failed", "completed"]
FIGURE_KEYS = ("start_date", "end_date", "sales_volume", "items", "days", "uncosted_items")


def fetch_figures(
    dashboard: DashboardGateway, store_id: int, start: date, end: date
) -> dict[str, Any]:
    """The period's figures from the dashboard (one aggregated call)."""
    body = dashboard.sales_report(store_id, start, end)
    if not isinstance(body, dict) or any(key not in body for key in FIGURE_KEYS):
        raise bad_gateway("dashboard")
    return {key: body[key] for key in FIGURE_KEYS}


def figures_hash(figures: dict[str, Any]) -> str:
    canonical = json.dumps(figures, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _live_request(session: Session, store_id: int, start: date, end: date, digest: str) -> Any:
    return session.scalar(
        select(ConsultingRequest.req_id).where(
            ConsultingRequest.store_id == store_id,
            ConsultingRequest.start_date == start,
            ConsultingRequest.end_date == end,
            ConsultingRequest.figures_hash == digest,
            ConsultingRequest.status != "failed",
        )
    )


def request_consulting(
    session: Session, store_id: int, start: date, end: date, figures: dict[str, Any]
) -> tuple[str, bool]:
    """``(req_id, created)``: the same store, period and figures reuse a live request."""
    digest = figures_hash(figures)
    for _ in range(3):  # a concurrent insert or a just-failed twin: look again
        request = ConsultingRequest(
            req_id=uuid.uuid4().hex,
            store_id=store_id,
            start_date=start,
            end_date=end,
            figures=json.dumps(figures, ensure_ascii=False, separators=(",", ":")),
            figures_hash=digest,
            status="pending",
            attempts=0,
            created_at=utcnow(),
        )
        session.add(request)
        try:
            session.commit()  # the partial unique index decides, not a pre-check
            return request.req_id, True
        except IntegrityError:
            session.rollback()
        existing = _live_request(session, store_id, start, end, digest)
        if existing is not None:
            return str(existing), False
    raise ApiError("잠시 후 다시 시도해 주세요.", status=409, code="busy")


def request_status(
    session: Session, dashboard: DashboardGateway, store_id: int, req_id: str
) -> RequestStatus:
    """Where the store's request is; "completed" only once the dashboard holds the advice the
    client reads next (succeeded here is not enough). Another store's id is a 404."""
    request = session.scalar(select(ConsultingRequest).where(ConsultingRequest.req_id == req_id))
    if request is None or request.store_id != store_id:
        raise NotFound("존재하지 않는 컨설팅 요청입니다.", code="consulting_not_found")
    if request.status == "failed":
        return "failed"
    if request.status == "pending":
        return "pending"
    return "completed" if dashboard.has_result(store_id, req_id) else "pending"
