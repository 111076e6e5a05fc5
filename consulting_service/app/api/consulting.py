"""Public consulting endpoints, exactly as the contract describes them."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app, request

from salesync_common.api import endpoint, parse_json_object, validate
from salesync_common.auth import current_store_id
from salesync_common.errors import NotFound
from salesync_common.ratelimit import rate_limit, store_or_ip_key
from salesync_common.types import PERIOD_MESSAGE, REQ_ID_PATTERN, Period

from .. import services
from ..models import db
from ..schemas import RequestedOut, StatusOut

bp = Blueprint("consulting", __name__, url_prefix="/consulting")
TAGS = ("consulting",)
_REQ_ID = re.compile(REQ_ID_PATTERN)
# Every way of asking counts against one per-store limit (each may be a paid model call).
consulting_limit = rate_limit(
    "consulting_rate_limit", key=store_or_ip_key, shared_scope="consulting-requests"
)


def _period(data: dict[str, Any]) -> Period:
    # the contract answers 400 (not 422) to bad or reversed dates
    return validate(Period, data, status=400, message=PERIOD_MESSAGE, code="invalid_dates")


def _ask(period: Period) -> dict[str, Any]:
    store_id = current_store_id()
    figures = services.fetch_figures(store_id, period.start, period.end)
    req_id, created = services.request_consulting(
        db.session(), store_id, period.start, period.end, figures
    )
    worker = current_app.extensions.get("consulting_worker")
    if created and worker is not None:
        worker.submit(req_id)
    return {"result": "success", "req_id": req_id}


def _query_period() -> Period:
    return _period({key: request.args.get(key) for key in ("start", "end") if key in request.args})


@bp.get("/")
@consulting_limit
@endpoint(
    "Ask for advice on a period (query start, end); answers at once with a req_id",
    permission="reports",
    responses={200: RequestedOut, 400: None},
    extra_errors=(429, 502, 503, 504),
    tags=TAGS,
)
def ask() -> dict[str, Any]:
    return _ask(_query_period())


@bp.post("/")
@consulting_limit
@endpoint(
    "Ask for advice on a period (JSON body {start, end})",
    permission="reports",
    responses={200: RequestedOut, 400: None},
    extra_errors=(415, 429, 502, 503, 504),
    tags=TAGS,
)
def ask_post() -> dict[str, Any]:
    data = parse_json_object()
    return _ask(_period({key: data.get(key) for key in ("start", "end")}))


@bp.get("/test")
@consulting_limit
@endpoint(
    "Same as GET /consulting/ (path the frontend ships with): a real request",
    permission="reports",
    responses={200: RequestedOut, 400: None},
    extra_errors=(429, 502, 503, 504),
    tags=TAGS,
)
def ask_test() -> dict[str, Any]:
    return _ask(_query_period())


def _status(req_id: str) -> dict[str, Any]:
    if not _REQ_ID.match(req_id):
        raise NotFound("존재하지 않는 컨설팅 요청입니다.", code="consulting_not_found")
    return services.request_status(db.session(), current_store_id(), req_id)


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
