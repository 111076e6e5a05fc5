"""Public consulting endpoints, exactly as the contract describes them."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app

from salesync_common.api import endpoint
from salesync_common.auth import current_store_id
from salesync_common.errors import NotFound
from salesync_common.ratelimit import rate_limit, store_or_ip_key
from salesync_common.types import REQ_ID_PATTERN, PeriodQuery

from .. import services
from ..clients import dashboard_gateway
from ..models import db
from ..schemas import RequestedOut, StatusOut

bp = Blueprint("consulting", __name__, url_prefix="/consulting")
TAGS = ("consulting",)
_REQ_ID = re.compile(REQ_ID_PATTERN)
# Every way of asking counts against one per-store limit (each may be a paid model call).
consulting_limit = rate_limit(
    "consulting_rate_limit", key=store_or_ip_key, shared_scope="consulting-requests"
)


NOT_COMPLETED = {"result": "not completed", "message": "컨설팅 진행 중"}
STATUS_ANSWERS: dict[services.RequestStatus, dict[str, str]] = {
    "pending": NOT_COMPLETED,
    "failed": {"result": "failed", "message": "컨설팅 생성에 실패했습니다. 다시 요청해 주세요."},
    "completed": {"result": "success", "message": "컨설팅 완료"},
}


def _ask(period: PeriodQuery) -> dict[str, Any]:
    store_id = current_store_id()
    figures = services.fetch_figures(dashboard_gateway(), store_id, period.start, period.end)
    req_id, created = services.request_consulting(
        db.session(), store_id, period.start, period.end, figures
    )
    worker = current_app.extensions.get("consulting_worker")
    if created and worker is not None:
        worker.submit(req_id)
    return {"result": "success", "req_id": req_id}


@bp.get("/")
@consulting_limit
@endpoint(
    "Ask for advice on a period (query start, end); answers at once with a req_id",
    permission="reports",
    query=PeriodQuery,
    responses={200: RequestedOut, 400: None},
    extra_errors=(429, 502, 503, 504),
    tags=TAGS,
)
def ask(query: PeriodQuery) -> dict[str, Any]:
    return _ask(query)


@bp.post("/")
@consulting_limit
@endpoint(
    "Ask for advice on a period (JSON body {start, end})",
    permission="reports",
    body=PeriodQuery,
    responses={200: RequestedOut, 400: None},
    extra_errors=(415, 429, 502, 503, 504),
    tags=TAGS,
)
def ask_post(body: PeriodQuery) -> dict[str, Any]:
    return _ask(body)


@bp.get("/test")
@consulting_limit
@endpoint(
    "Same as GET /consulting/ (path the frontend ships with): a real request",
    permission="reports",
    query=PeriodQuery,
    responses={200: RequestedOut, 400: None},
    extra_errors=(429, 502, 503, 504),
    tags=TAGS,
)
def ask_test(query: PeriodQuery) -> dict[str, Any]:
    return _ask(query)


def _status(req_id: str) -> dict[str, Any]:
    if not _REQ_ID.match(req_id):
        raise NotFound("존재하지 않는 컨설팅 요청입니다.", code="consulting_not_found")
    status = services.request_status(db.session(), dashboard_gateway(), current_store_id(), req_id)
    answer = dict(STATUS_ANSWERS[status])
    if status == "completed":
        answer["req_id"] = req_id
    return answer


@bp.get("/<req_id>")
@endpoint(
    "Status of the store's own consulting request",
    permission="reports",
    responses={200: StatusOut, 404: None},
    tags=TAGS,
)
def status(req_id: str) -> dict[str, Any]:
    return _status(req_id)


@bp.get("/test/<req_id>")
@endpoint(
    "Same as GET /consulting/<req_id> (path the frontend ships with)",
    permission="reports",
    responses={200: StatusOut, 404: None},
    tags=TAGS,
)
def status_test(req_id: str) -> dict[str, Any]:
    return _status(req_id)
