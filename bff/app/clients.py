"""The sibling service the BFF calls: the dashboard, which answers the ``/bff/*`` aggregations.

``DashboardGateway.forward`` passes the public request on as it is (method, path with its query,
body, the auth headers) and hands back the dashboard's answer; views get the gateway from
:func:`dashboard_gateway`. (The merged OpenAPI document reads every service's ``/openapi.json``
through the same pooled clients, in ``openapi.py``.)
"""

from __future__ import annotations

from typing import Protocol

from salesync_common.app import runtime
from salesync_common.http import ServiceClient, UpstreamResponse


class DashboardGateway(Protocol):
    def forward(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str]
    ) -> UpstreamResponse: ...


class DashboardClient:
    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    def forward(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str]
    ) -> UpstreamResponse:
        return self._client.request(method, path, data=data, headers=headers)


def dashboard_gateway() -> DashboardGateway:
    return DashboardClient(runtime().client("dashboard"))
