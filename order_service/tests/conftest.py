"""Order tests run against the real item service served on a local port.

``stack.deliver_menu_events()`` hands the item service's pending ``menu.items`` outbox rows to
the order service's consumer handler, in order: the relay and the broker without their timing
(the real broker is exercised by ``test_menu_kafka.py``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import select, update

from devstack.testing import auth_headers, token_for
from item_service.app.models import Outbox
from item_service.app.models import db as item_db
from order_service.app.menu import MenuEventHandler
from order_service.app.models import db as order_db
from salesync_common.bus import Event


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

    def deliver_menu_events(self) -> int:
        """Apply every unpublished menu.items outbox row to the read model; how many."""
        with self.item_app.app_context():
            rows = item_db.session.execute(
                select(Outbox).where(Outbox.c.published_at.is_(None)).order_by(Outbox.c.id)
            ).all()
            with self.order_app.app_context():
                handler = MenuEventHandler(order_db.engine)
                for row in rows:
                    handler(Event(row.topic, row.key, json.loads(row.payload)))
            if rows:
                item_db.session.execute(
                    update(Outbox)
                    .where(Outbox.c.id.in_([row.id for row in rows]))
                    .values(published_at=Outbox.c.created_at)
                )
            item_db.session.commit()
        return len(rows)

    def option_group(
        self,
        store_id: int,
        item_id: int,
        name: str,
        min_select: int,
        max_select: int,
        options: dict[str, int],
    ) -> dict[str, int]:
        """Add an option group (option name -> price_delta) to an item; option name -> id."""
        response = self.item_app.test_client().post(
            f"/categories/items/{item_id}/option-groups",
            json={
                "name": name,
                "min_select": min_select,
                "max_select": max_select,
                "options": [{"name": n, "price_delta": d} for n, d in options.items()],
            },
            headers=auth_headers(token_for(store_id)),
        )
        assert response.status_code == 201, response.json
        return {option["name"]: option["option_id"] for option in response.json["options"]}

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
