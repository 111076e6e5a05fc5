"""The sibling services the dashboard calls: a ``Protocol`` per dependency, its HTTP client.

Every read is one aggregated or batched call per data owner (no N+1): order ``item-sales`` and
``order-summary``, item ``cost-history`` (only for items with uncosted units) and ``costs``, sale
``daily-totals`` and ``shifts``, the store's profile for the settlement text. Each method returns
the internal API's answer (docs/internal-api.md); a non-2xx answer is a 502 (``expect_ok``).
Use-cases take the gateways as :class:`Siblings`; views get them from :func:`siblings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from salesync_common.app import runtime
from salesync_common.errors import ApiError
from salesync_common.http import ServiceClient, UpstreamResponse, expect_ok


def _period(start: date, end: date) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat()}


class OrderGateway(Protocol):
    def item_sales(self, store_id: int, start: date, end: date) -> Any: ...

    def order_summary(self, store_id: int, start: date, end: date) -> Any: ...


class ItemGateway(Protocol):
    def cost_history(self, store_id: int, item_ids: list[int]) -> Any: ...

    def costs(self, store_id: int) -> Any: ...

    def save_costs(self, store_id: int, changes: list[tuple[int, int | None]]) -> Any:
        """Set unit costs, all or nothing: the item service's 4xx is answered as it is."""
        ...


class SaleGateway(Protocol):
    def daily_totals(self, store_id: int, start: date, end: date) -> Any: ...

    def shifts(self, store_id: int, day: date, tz: str) -> list[Any]:
        """The shifts opened on ``day`` (none from an older sale service without the endpoint)."""
        ...


class StoreGateway(Protocol):
    def store(self, store_id: int) -> Any:
        """The store's profile, None when there is no such store."""
        ...


class OrderClient:
    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    def item_sales(self, store_id: int, start: date, end: date) -> Any:
        path = f"/internal/stores/{store_id}/item-sales"
        return expect_ok(self._client.get(path, params=_period(start, end)), "order")

    def order_summary(self, store_id: int, start: date, end: date) -> Any:
        path = f"/internal/stores/{store_id}/order-summary"
        return expect_ok(self._client.get(path, params=_period(start, end)), "order")


class ItemClient:
    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    def cost_history(self, store_id: int, item_ids: list[int]) -> Any:
        params = {"ids": ",".join(map(str, item_ids))}
        path = f"/internal/stores/{store_id}/cost-history"
        return expect_ok(self._client.get(path, params=params), "item")

    def costs(self, store_id: int) -> Any:
        return expect_ok(self._client.get(f"/internal/stores/{store_id}/costs"), "item")

    def save_costs(self, store_id: int, changes: list[tuple[int, int | None]]) -> Any:
        # Setting a cost is idempotent at the item service (same cost = no new history entry),
        # so a retry after a timeout is safe.
        response = self._client.post(
            f"/internal/stores/{store_id}/costs",
            json={"items": [{"item_id": item_id, "cost": cost} for item_id, cost in changes]},
            idempotent=True,
        )
        if 400 <= response.status < 500:
            raise _passthrough(response)  # unknown/foreign item: all or nothing, nothing changed
        return expect_ok(response, "item")


def _passthrough(response: UpstreamResponse) -> ApiError:
    body = response.body if isinstance(response.body, dict) else {}
    error = body.get("error")
    error = error if isinstance(error, dict) else {}
    fields = error.get("fields")
    return ApiError(
        body.get("message") or None,
        status=response.status,
        code=error.get("code"),
        fields=fields if isinstance(fields, dict) else None,
    )


class SaleClient:
    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    def daily_totals(self, store_id: int, start: date, end: date) -> Any:
        path = f"/internal/stores/{store_id}/daily-totals"
        return expect_ok(self._client.get(path, params=_period(start, end)), "sale")

    def shifts(self, store_id: int, day: date, tz: str) -> list[Any]:
        response = self._client.get(
            f"/internal/stores/{store_id}/shifts", params={"date": day.isoformat(), "tz": tz}
        )
        return [] if response.status == 404 else expect_ok(response, "sale")["shifts"]


class StoreClient:
    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    def store(self, store_id: int) -> Any:
        response = self._client.get(f"/internal/stores/{store_id}")
        return None if response.status == 404 else expect_ok(response, "store")


@dataclass(frozen=True)
class Siblings:
    orders: OrderGateway
    items: ItemGateway
    sales: SaleGateway
    stores: StoreGateway


def siblings() -> Siblings:
    """The HTTP clients of the request's service (pooled per sibling by the runtime)."""
    service = runtime()
    return Siblings(
        orders=OrderClient(service.client("order")),
        items=ItemClient(service.client("item")),
        sales=SaleClient(service.client("sale")),
        stores=StoreClient(service.client("store")),
    )
