"""The menu read model end to end: item outbox -> real Kafka -> order consumer -> hot path.

Real broker (devstack, SASL_SSL: item and order each log in as their own SCRAM user), real
PostgreSQL, the real item and order apps with their background threads (the item relay, the
order's menu.items consumer). Never skipped.
"""

from __future__ import annotations

import functools
import json
import statistics
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from devstack import kafka as devstack_kafka
from devstack import testing
from devstack.testing import auth_headers, kafka_apps, token_for
from item_service.app.models import Outbox
from item_service.app.models import db as item_db
from order_service.app import clients, menu
from order_service.app.models import MenuItem, db
from salesync_common.bus import Event
from salesync_common.http import ServiceClient
from salesync_common.kafka import KafkaPublisher

# Fine polling: the waits measure the menu's change -> read model latency.
wait_for = functools.partial(testing.wait_for, interval=0.005)
pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]
STORE = 8801
CHANGES = 60


class Apps:
    def __init__(self, item_app, order_app) -> None:
        self.item_app, self.order_app = item_app, order_app
        self.item_client, self.order_client = item_app.test_client(), order_app.test_client()
        self.settings = order_app.extensions["salesync"].settings

    def h(self) -> dict[str, str]:
        return auth_headers(token_for(STORE))

    def menu(self, items: dict[str, int]) -> dict[str, int]:
        category = self.item_client.post(
            "/categories/", json={"name": f"c-{uuid.uuid4().hex[:6]}"}, headers=self.h()
        ).json["id"]
        return {
            name: self.item_client.post(
                f"/categories/{category}/items",
                json={"name": name, "price": price},
                headers=self.h(),
            ).json["id"]
            for name, price in items.items()
        }

    def set_price(self, item_id: int, name: str, price: int) -> None:
        response = self.item_client.put(
            f"/categories/items/{item_id}", json={"name": name, "price": price}, headers=self.h()
        )
        assert response.status_code == 200, response.json

    def model_row(self, item_id: int) -> MenuItem | None:
        with self.order_app.app_context():
            row = db.session.scalar(
                select(MenuItem).where(MenuItem.store_id == STORE, MenuItem.item_id == item_id)
            )
            db.session.commit()
            return row

    def outbox_empty(self) -> bool:
        with self.item_app.app_context():
            pending = item_db.session.scalar(
                select(func.count()).select_from(Outbox).where(Outbox.c.published_at.is_(None))
            )
            item_db.session.commit()
            return pending == 0

    def trusted(self) -> bool:
        with self.order_app.app_context():
            return menu.model_trusted(db.session(), self.settings)

    def order(self, table_no: int, item_id: int):
        response = self.order_client.post(
            "/orders/",
            json={"table_no": table_no, "carts": [{"item_id": item_id, "quantity": 1}]},
            headers=self.h(),
        )
        return response

    def line_price(self, table_no: int, item_id: int) -> int | None:
        body = self.order_client.get(f"/orders/unpaids/{table_no}", headers=self.h()).json
        self.order_client.delete(f"/orders/{table_no}", headers=self.h())
        total = body.get("total_price")
        return total if body.get("carts") and body["carts"][0]["item_id"] == item_id else None


class ItemCalls:
    def __init__(self, monkeypatch) -> None:
        self.count = 0
        real = ServiceClient.request

        def counted(client, method, path, **kwargs):
            if client.name == "item":
                self.count += 1
            return real(client, method, path, **kwargs)

        monkeypatch.setattr(ServiceClient, "request", counted)


@pytest.fixture(scope="module")
def apps(service_app, serve, kafka_broker) -> Iterator[Apps]:
    run = uuid.uuid4().hex[:8]  # own topics: nothing of this run reaches another consumer
    with kafka_apps(service_app, kafka_broker) as start:
        item_app = start("item_service", menu_items_topic=f"menu.items.test-{run}")
        served = serve(item_app)
        order_app = start(
            "order_service",
            item_service_url=served.url,
            menu_items_topic=f"menu.items.test-{run}",
            menu_items_group=f"order-menu-test-{run}",
            orders_events_topic=f"orders.events.test-{run}",
        )
        apps = Apps(item_app, order_app)
        # the relay first publishes what earlier tests left in the item outbox: wait for all
        wait_for(lambda: apps.outbox_empty() and apps.trusted(), 120, "the menu to catch up")
        yield apps


def test_menu_changes_reach_new_orders_through_kafka(apps, monkeypatch):
    ids = apps.menu({"a": 1000, "b": 2000})
    for item_id in ids.values():
        wait_for(lambda i=item_id: apps.model_row(i) is not None, 10, "the new items")
    calls = ItemCalls(monkeypatch)
    latencies = []
    for n in range(CHANGES):
        name = "a" if n % 2 == 0 else "b"
        item_id, price = ids[name], 3000 + n
        apps.set_price(item_id, name, price)
        committed = time.monotonic()
        wait_for(lambda i=item_id, p=price: apps.model_row(i).price == p, 5, f"price {price}")
        latencies.append(time.monotonic() - committed)
        # a new order sees the new price, served by the model alone
        assert apps.order(1, item_id).status_code == 200
        assert apps.line_price(1, item_id) == price
    # every change was seen through the model; a direct call happens only if the consumer could
    # not confirm in time (a loaded machine), and then served the same price
    print(f"\nitem service calls during {CHANGES} changes and orders: {calls.count}")
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"\nmenu change -> read model ({len(latencies)} price changes): "
        f"p50 {p50 * 1000:.0f} ms, p90 {latencies[int(len(latencies) * 0.9)] * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
    )
    # a retired item is refused from the model; a new item is ordered at once
    apps.item_client.delete(f"/categories/items/{ids['b']}", headers=apps.h())
    wait_for(lambda: apps.model_row(ids["b"]).retired, 5, "the retirement")
    refused = apps.order(2, ids["b"])
    assert refused.status_code == 422 and refused.json["error"]["code"] == "unknown_item"
    fresh = apps.menu({"c": 4321})["c"]
    assert apps.order(3, fresh).status_code == 200 and apps.line_price(3, fresh) == 4321


def test_broker_down_never_serves_a_stale_price_then_catches_up(apps, monkeypatch):
    item_id = apps.menu({"d": 5000})["d"]
    wait_for(lambda: apps.model_row(item_id) is not None, 10, "the new item")
    calls = ItemCalls(monkeypatch)
    devstack_kafka.stop()
    try:
        # not trusted once the freshness window has passed without a confirmation
        wait_for(
            lambda: not apps.trusted(),
            apps.settings.menu_freshness_seconds + 5,
            "the model to be distrusted",
        )
        apps.set_price(item_id, "d", 6000)  # committed at the item service, stuck in its outbox
        for table in (4, 5, 6):
            assert apps.order(table, item_id).status_code == 200
            assert apps.line_price(table, item_id) == 6000  # never the stale 5000
        assert apps.model_row(item_id).price in (5000, 6000)
        assert calls.count >= 3  # every lookup went to the item service
    finally:
        assert devstack_kafka.start(timeout=120)
    waited = wait_for(
        lambda: apps.trusted() and apps.model_row(item_id).price == 6000,
        120,
        "the model to catch up after the outage",
    )
    print(f"\nbroker back -> model trusted and current in {waited:.1f} s")
    served_by_model = 0
    for table in range(7, 17):
        trusted_before, before = apps.trusted(), calls.count
        assert apps.order(table, item_id).status_code == 200
        assert apps.line_price(table, item_id) == 6000
        if trusted_before and apps.trusted():
            assert calls.count == before  # the hot path stopped calling the item service
            served_by_model += 1
    assert served_by_model >= 5


def test_duplicate_and_out_of_order_events_change_nothing(apps, kafka_broker):
    item_id = 9_000_000 + int(uuid.uuid4().int % 100_000)
    publisher = KafkaPublisher(
        devstack_kafka.client_config("item", kafka_broker), client_id="test-menu-duplicates"
    )

    def event(version: int, price: int) -> Event:
        value = {
            "event_id": str(uuid.uuid4()),
            "store_id": STORE,
            "item_id": item_id,
            "category_id": 1,
            "name": "외부",
            "price": price,
            "cost": None,
            "retired": False,
            "version": version,
            "changed_at": "2026-12-01T00:00:00+00:00",
        }
        return Event(apps.settings.menu_items_topic, str(STORE), value, {})

    try:
        # newest first, then an older version, then the newest again with other content
        outcome = publisher.publish_many([event(5, 7777), event(4, 1), event(5, 2), event(3, 3)])
        assert outcome.acknowledged == 4 and outcome.error is None
    finally:
        publisher.close()
    wait_for(lambda: apps.model_row(item_id) is not None, 10, "the events")
    time.sleep(apps.settings.menu_freshness_seconds)  # every one of them has been handled
    wait_for(apps.trusted, 10, "a fresh confirmation")
    row = apps.model_row(item_id)
    assert (row.version, row.price) == (5, 7777)


def test_option_groups_tax_and_category_names_reach_the_model_through_kafka(apps):
    ids = apps.menu({"빙수": 7000})
    item_id = ids["빙수"]
    client, headers = apps.item_client, apps.h()
    group = client.post(
        f"/categories/items/{item_id}/option-groups",
        json={
            "name": "토핑",
            "min_select": 0,
            "max_select": 2,
            "options": [{"name": "팥", "price_delta": 500}, {"name": "떡", "price_delta": -200}],
        },
        headers=headers,
    )
    assert group.status_code == 201, group.json
    updated = client.put(
        f"/categories/items/{item_id}",
        json={"name": "빙수", "price": 7000, "tax": "exempt", "sold_out": True},
        headers=headers,
    )
    assert updated.status_code == 200
    [category] = [
        c["category_id"]
        for c in client.get("/categories/items", headers=headers).json["categories"]
        if any(i["item_id"] == item_id for i in c["items"])
    ]
    assert (
        client.put(f"/categories/{category}", json={"name": "여름"}, headers=headers).status_code
        == 200
    )
    wait_for(
        lambda: (row := apps.model_row(item_id)) is not None and row.category_name == "여름",
        10,
        "the rename",
    )
    row = apps.model_row(item_id)
    assert (row.tax, row.sold_out, row.version) == ("exempt", True, 4)
    assert json.loads(row.option_groups) == [group.json]
    wait_for(apps.trusted, 10, "a fresh confirmation")
    with apps.order_app.app_context():
        snapshot = menu.lookup(
            db.session(), apps.settings, STORE, [item_id], clients.item_gateway()
        )[item_id]
        db.session.commit()
    assert [g.model_dump() for g in snapshot.option_groups] == [group.json]
    assert (snapshot.tax, snapshot.sold_out, snapshot.category_name) == ("exempt", True, "여름")
