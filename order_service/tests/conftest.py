"""Order tests run against the real item service served on a local port."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from flask import Flask

from devstack.testing import auth_headers, token_for


@dataclass
class Stack:
    item_app: Flask
    order_app: Flask

    def menu(
        self, store_id: int, items: dict[str, int], costs: dict[str, int] | None = None
    ) -> dict[str, int]:
        """Create one category with ``items`` (name -> price) in the item service; name -> id."""
        client = self.item_app.test_client()
        headers = auth_headers(token_for(store_id))
        category = client.post(
            "/categories/", json={"name": f"cat-{uuid.uuid4().hex[:8]}"}, headers=headers
        )
        assert category.status_code == 201, category.json
        ids: dict[str, int] = {}
        for name, price in items.items():
            body: dict[str, object] = {"name": name, "price": price}
            if costs and name in costs:
                body["cost"] = costs[name]
            created = client.post(
                f"/categories/{category.json['id']}/items", json=body, headers=headers
            )
            assert created.status_code == 201, created.json
            ids[name] = created.json["id"]
        return ids

    def item_put(self, store_id: int, item_id: int, **body: object) -> None:
        response = self.item_app.test_client().put(
            f"/categories/items/{item_id}", json=body, headers=auth_headers(token_for(store_id))
        )
        assert response.status_code == 200, response.json

    def item_delete(self, store_id: int, item_id: int) -> None:
        response = self.item_app.test_client().delete(
            f"/categories/items/{item_id}", headers=auth_headers(token_for(store_id))
        )
        assert response.status_code == 200


@pytest.fixture(scope="module")
def stack(service_app, serve) -> Stack:
    item_app = service_app("item_service")
    served = serve(item_app)
    order_app = service_app("order_service", item_service_url=served.url)
    return Stack(item_app, order_app)


@pytest.fixture()
def client(stack):
    return stack.order_app.test_client()
