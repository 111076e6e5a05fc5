"""The sibling services the sale service calls: a ``Protocol`` per dependency, its HTTP client.

Use-cases take a gateway (``OrderGateway``, ``StoreGateway``) as an argument, so they run without
HTTP in tests; views get the request's gateway from :func:`order_gateway` / :func:`store_gateway`
(the HTTP client over ``runtime().client(...)``, or the fake a test put in ``app.extensions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from flask import current_app

from salesync_common.app import runtime
from salesync_common.http import ServiceClient, expect_ok

GATEWAY_EXTENSION = "sale.order_gateway"
STORE_GATEWAY_EXTENSION = "sale.store_gateway"


@dataclass(frozen=True)
class PayAnswer:
    status: int
    body: dict[str, Any]

    @property
    def code(self) -> str | None:
        error = self.body.get("error")
        return error.get("code") if isinstance(error, dict) else None


class OrderGateway(Protocol):
    def pay(self, store_id: int, request: dict[str, Any], tz: str) -> PayAnswer: ...

    def order(self, store_id: int, order_id: int) -> dict[str, Any] | None:
        """The order's detail (docs/internal-api.md), None when the store has no such order."""
        ...


class StoreGateway(Protocol):
    def store(self, store_id: int) -> dict[str, Any]:
        """The store's profile (name, address, business_number)."""
        ...


class OrderClient:
    """``OrderGateway`` over the order service's internal HTTP API (docs/internal-api.md)."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    def pay(self, store_id: int, request: dict[str, Any], tz: str) -> PayAnswer:
        # Exactly once per payment_ref on the order side: safe to retry on timeouts.
        response = self._client.post(
            f"/internal/stores/{store_id}/payments",
            params={"tz": tz},
            json=request,
            idempotent=True,
        )
        if response.status in (404, 409) and isinstance(response.body, dict):
            return PayAnswer(response.status, response.body)
        return PayAnswer(response.status, expect_ok(response, "order"))

    def order(self, store_id: int, order_id: int) -> dict[str, Any] | None:
        response = self._client.get(f"/internal/stores/{store_id}/orders/{order_id}")
        if response.status == 404:
            return None
        body = expect_ok(response, "order")
        return body if isinstance(body, dict) else None


class StoreClient:
    """``StoreGateway`` over the store service's internal HTTP API."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    def store(self, store_id: int) -> dict[str, Any]:
        response = self._client.get(f"/internal/stores/{store_id}")
        if response.status == 404:  # a receipt still prints, without the store's header
            return {}
        body = expect_ok(response, "store")
        return body if isinstance(body, dict) else {}


def order_gateway() -> OrderGateway:
    override = current_app.extensions.get(GATEWAY_EXTENSION)
    if override is not None:
        return override
    return OrderClient(runtime().client("order"))


def store_gateway() -> StoreGateway:
    override = current_app.extensions.get(STORE_GATEWAY_EXTENSION)
    if override is not None:
        return override
    return StoreClient(runtime().client("store"))
