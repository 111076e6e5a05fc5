"""``/bff/*``: the figures the frontend's dashboard and cost pages read, answered by the dashboard.

The contract gives these pages their own paths; the dashboard service computes them. Each view
checks the caller's token (a bad one never reaches the dashboard), then asks the dashboard's
answer for the same store with the caller's own token, and returns it as it is: same status, same
body, so ``GET /bff/sales`` and ``GET /dashboard/sales`` cannot drift apart.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from salesync_common.api import endpoint
from salesync_common.errors import bad_gateway

from ..clients import dashboard_gateway

bp = Blueprint("bff", __name__, url_prefix="/bff")
TAGS = ("bff",)
# Public BFF path -> the dashboard path that answers it (the OpenAPI document reuses its schema).
DASHBOARD_PATHS: dict[str, str] = {
    "/bff/sales": "/dashboard/sales",
    "/bff/volumes": "/dashboard/volumes",
    "/bff/summary": "/dashboard/summary",
    "/bff/costs": "/dashboard/costs",
}
FORWARDED_HEADERS = ("Authorization", "Content-Type", "X-CSRF-Token")


def _from_dashboard() -> Response:
    path = DASHBOARD_PATHS[request.path.rstrip("/") or request.path]
    query = request.query_string.decode("latin-1")
    headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
    answer = dashboard_gateway().forward(
        request.method,
        f"{path}?{query}" if query else path,
        request.get_data() if request.method == "POST" else None,
        headers,
    )
    if answer.body is None:
        raise bad_gateway("dashboard")
    response = Response(answer.raw, status=answer.status, mimetype="application/json")
    if "Retry-After" in answer.headers:
        response.headers["Retry-After"] = answer.headers["Retry-After"]
    return response


@bp.get("/sales")
@endpoint("Sales and profit per item over [start, end]", permission="reports", tags=TAGS)
def sales() -> Response:
    return _from_dashboard()


@bp.get("/volumes")
@endpoint("Sales and profit per business day over [start, end]", permission="reports", tags=TAGS)
def volumes() -> Response:
    return _from_dashboard()


@bp.get("/summary")
@endpoint(
    "The period's summary: gross, discounts, refunds, net, VAT, tenders, by hour/category/staff",
    permission="reports",
    tags=TAGS,
)
def summary() -> Response:
    return _from_dashboard()


@bp.get("/costs")
@endpoint("Items with their unit cost, by category", permission="costs", tags=TAGS)
def costs() -> Response:
    return _from_dashboard()


@bp.post("/costs")
@endpoint("Save edited unit costs (all or nothing)", permission="costs", tags=TAGS)
def save_costs() -> Response:
    return _from_dashboard()
