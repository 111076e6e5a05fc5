"""The sibling services the order service calls: a ``Protocol`` per dependency, its HTTP client.

- item: one batched direct lookup, only for what the read model of the menu (``menu.py``) cannot
  answer: items it has not seen, or every item while the model is not trusted;
- sale: the receipt of a paid order and the refunds of an order (its audit trail).

Use-cases take a gateway as an argument (``menu.lookup(..., items)``); views get the request's
gateway from :func:`item_gateway` / :func:`sale_gateway` (the HTTP client over
``runtime().client(...)``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol

from pydantic import ValidationError

from salesync_common.app import runtime
from salesync_common.errors import UpstreamError, bad_gateway
from salesync_common.http import ServiceClient, expect_ok

from .schemas import ItemSnapshot

log = logging.getLogger(__name__)

Catalog = dict[int, ItemSnapshot]


class ItemGateway(Protocol):
    def lookup(self, store_id: int, item_ids: Iterable[int]) -> Catalog:
        """Live items of the store among ``item_ids`` (absent when unknown, foreign or retired)."""
        ...


class SaleGateway(Protocol):
    def receipt(self, store_id: int, order_id: int, tz: str) -> dict[str, Any] | None:
        """The receipt of a paid order (counts a reprint), None while there is none."""
        ...

    def refunds(self, store_id: int, order_id: int, tz: str) -> list[dict[str, Any]] | None:
        """The refunds of the order, or None when the sale service cannot answer now."""
        ...


class ItemClient:
    """``ItemGateway`` over the item service's internal HTTP API (docs/internal-api.md)."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    def lookup(self, store_id: int, item_ids: Iterable[int]) -> Catalog:
        ids = sorted(set(item_ids))
        if not ids:
            return {}
        response = self._client.get(
            f"/internal/stores/{store_id}/items", params={"ids": ",".join(map(str, ids))}
        )
        body = expect_ok(response, "item")
        try:
            snapshots = [ItemSnapshot.model_validate(row) for row in body["items"]]
        except (KeyError, TypeError, ValidationError) as exc:
            raise bad_gateway("item") from exc
        return {snapshot.item_id: snapshot for snapshot in snapshots}


class SaleClient:
    """``SaleGateway`` over the sale service's internal HTTP API (docs/internal-api.md)."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    def receipt(self, store_id: int, order_id: int, tz: str) -> dict[str, Any] | None:
        response = self._client.get(
            f"/internal/stores/{store_id}/orders/{order_id}/receipt", params={"tz": tz}
        )
        if response.status == 404:
            return None
        body = expect_ok(response, "sale")
        assert isinstance(body, dict)
        return body

    def refunds(self, store_id: int, order_id: int, tz: str) -> list[dict[str, Any]] | None:
        try:
            response = self._client.get(
                f"/internal/stores/{store_id}/orders/{order_id}/refunds", params={"tz": tz}
            )
        except UpstreamError:
            return None
        body = response.body
        if (
            not response.ok
            or not isinstance(body, dict)
            or not isinstance(body.get("refunds"), list)
        ):
            log.warning("sale answered %s to the refunds of an order", response.status)
            return None
        return body["refunds"]


def item_gateway() -> ItemGateway:
    return ItemClient(runtime().client("item"))


def sale_gateway() -> SaleGateway:
    return SaleClient(runtime().client("sale"))
