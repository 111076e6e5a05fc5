"""The sibling service the consulting service calls: the dashboard (a Protocol, its client).

Use-cases take the gateway as an argument; views get it from :func:`dashboard_gateway`.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

from salesync_common.app import runtime
from salesync_common.errors import ApiError, UpstreamError
from salesync_common.http import ServiceClient, expect_ok


class DashboardGateway(Protocol):
    def sales_report(self, store_id: int, start: date, end: date) -> Any:
        """The period's figures for the prompt; the dashboard's 400 (bad period) is answered."""
        ...

    def has_result(self, store_id: int, req_id: str) -> bool:
        """Whether the dashboard holds the request's result (False when it cannot answer now)."""
        ...


class DashboardClient:
    """``DashboardGateway`` over the dashboard's internal HTTP API (docs/internal-api.md)."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    def sales_report(self, store_id: int, start: date, end: date) -> Any:
        response = self._client.get(
            f"/internal/stores/{store_id}/sales-report",
            params={"start": start.isoformat(), "end": end.isoformat()},
        )
        if response.status == 400:
            raise ApiError("조회 기간이 올바르지 않습니다.", status=400, code="invalid_dates")
        return expect_ok(response, "dashboard")

    def has_result(self, store_id: int, req_id: str) -> bool:
        try:
            response = self._client.get(f"/internal/stores/{store_id}/consulting/{req_id}")
        except UpstreamError:
            return False  # a poll: the client simply asks again
        return bool(response.ok and isinstance(response.body, dict) and response.body.get("status"))


def dashboard_gateway() -> DashboardGateway:
    return DashboardClient(runtime().client("dashboard"))
