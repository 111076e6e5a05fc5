"""The menu read model keeps the v2 snapshot fields (tax, sold_out, category_name, option groups).

The item service's real outbox rows are handed to the order service's consumer handler (as in
``conftest.py``); the model is trusted by recording a confirmation for a topic of this module's
own, so no other test sees a trusted model. The real broker path is in ``test_menu_kafka.py``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from devstack.testing import auth_headers, count_queries, token_for
from order_service.app import clients, menu
from order_service.app.menu import MenuEventHandler
from order_service.app.models import MenuItem, db
from salesync_common.bus import Event
from salesync_common.kafka import CaughtUp
from salesync_common.timeutil import utcnow

from .conftest import Stack

STORE = 7701
SIZE = {
    "name": "사이즈",
    "min_select": 1,
    "max_select": 1,
    "options": [{"name": "레귤러", "price_delta": 0}, {"name": "라지", "price_delta": 500}],
}


@pytest.fixture(scope="module")
def model(service_app, serve) -> Stack:
    """An item service and an order service whose menu topic is this module's alone."""
    item_app = service_app("item_service")
    served = serve(item_app)
    order_app = service_app(
        "order_service",
        item_service_url=served.url,
        menu_items_topic=f"menu.items.model-{uuid.uuid4().hex[:8]}",
    )
    return Stack(item_app, order_app)


def h() -> dict[str, str]:
    return auth_headers(token_for(STORE))


def trust(stack: Stack) -> None:
    settings = stack.order_app.extensions["salesync"].settings
    with stack.order_app.app_context():
        menu.record_caught_up(db.engine, CaughtUp(settings.menu_items_topic, 1, (0,), utcnow()))


def lookup(stack: Stack, item_ids: list[int]) -> dict[int, Any]:
    settings = stack.order_app.extensions["salesync"].settings
    with stack.order_app.app_context():
        catalog = menu.lookup(db.session(), settings, STORE, item_ids, clients.item_gateway())
        db.session.commit()  # as the order's own transaction does (the warmed rows included)
        return catalog


def row(stack: Stack, item_id: int) -> MenuItem:
    with stack.order_app.app_context():
        found = db.session.scalar(
            select(MenuItem).where(MenuItem.store_id == STORE, MenuItem.item_id == item_id)
        )
        db.session.commit()  # keeps the loaded row readable (no expiry on commit)
        assert found is not None
        return found


def test_the_model_stores_and_returns_the_v2_fields(model):
    items = model.item_app.test_client()
    category = items.post("/categories/", json={"name": "음료"}, headers=h()).json["id"]
    latte = items.post(
        f"/categories/{category}/items",
        json={"name": "라떼", "price": 4500, "tax": "exempt", "sold_out": True},
        headers=h(),
    ).json["id"]
    group = items.post(f"/categories/items/{latte}/option-groups", json=SIZE, headers=h()).json
    assert model.deliver_menu_events() >= 2

    stored = row(model, latte)
    assert (stored.tax, stored.sold_out, stored.category_name) == ("exempt", True, "음료")
    assert json.loads(stored.option_groups) == [group]

    trust(model)
    with model.order_app.app_context(), count_queries(db.engine) as statements:
        catalog = menu.lookup(
            db.session(),
            model.order_app.extensions["salesync"].settings,
            STORE,
            [latte],
            clients.item_gateway(),
        )
        db.session.rollback()
    assert len(statements) == 1  # the hot path stays one query, option groups included
    snapshot = catalog[latte]
    assert (snapshot.tax, snapshot.sold_out, snapshot.category_name) == ("exempt", True, "음료")
    assert [g.model_dump() for g in snapshot.option_groups] == [group]
    assert snapshot.option_groups[0].options[1].price_delta == 500

    # a category rename reaches the model through the items' snapshots
    assert (
        items.put(f"/categories/{category}", json={"name": "커피"}, headers=h()).status_code == 200
    )
    model.deliver_menu_events()
    trust(model)
    assert lookup(model, [latte])[latte].category_name == "커피"


def test_the_direct_lookup_carries_and_warms_the_v2_fields(model):
    items = model.item_app.test_client()
    category = items.post("/categories/", json={"name": "디저트"}, headers=h()).json["id"]
    cake = items.post(
        f"/categories/{category}/items", json={"name": "케이크", "price": 6000}, headers=h()
    ).json["id"]
    group = items.post(f"/categories/items/{cake}/option-groups", json=SIZE, headers=h()).json
    # the model has not seen the item: one direct call answers, and warms the model
    snapshot = lookup(model, [cake])[cake]
    assert (snapshot.tax, snapshot.sold_out, snapshot.category_name) == ("vat", False, "디저트")
    assert [g.model_dump() for g in snapshot.option_groups] == [group]
    stored = row(model, cake)
    assert json.loads(stored.option_groups) == [group] and stored.category_name == "디저트"


def test_a_v1_event_means_the_defaults_and_versions_still_decide(model):
    handler_event: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "store_id": STORE,
        "item_id": 990_001,
        "category_id": 1,
        "name": "옛 품목",
        "price": 1000,
        "cost": None,
        "retired": False,
        "version": 3,
        "changed_at": utcnow().isoformat(),
    }
    with model.order_app.app_context():
        handler = MenuEventHandler(db.engine)
        handler(Event("menu.items", str(STORE), handler_event))
        stored = row(model, 990_001)
        assert (stored.tax, stored.sold_out, stored.category_name) == ("vat", False, None)
        assert stored.option_groups == "[]"
        # an older v2 snapshot never overwrites it; a newer one does
        v2 = {**handler_event, "tax": "exempt", "category_name": "새", "option_groups": []}
        handler(Event("menu.items", str(STORE), {**v2, "version": 2}))
        assert row(model, 990_001).tax == "vat"
        handler(Event("menu.items", str(STORE), {**v2, "version": 4}))
        assert (row(model, 990_001).tax, row(model, 990_001).category_name) == ("exempt", "새")
        # a malformed option group is refused as a whole (the stored snapshot stays)
        bad = {**v2, "version": 5, "option_groups": [{"group_id": "x"}]}
        handler(Event("menu.items", str(STORE), bad))
        assert row(model, 990_001).version == 4


def test_a_change_not_yet_published_gets_a_second_look_not_a_refusal(model):
    """The model trusted but behind the item service (an option group added, the item put back
    on sale, both not yet delivered): the order is taken with the item service's answer, which
    then warms the model. A cart the item service refuses too is still refused."""
    items = model.item_app.test_client()
    orders = model.order_app.test_client()
    category = items.post("/categories/", json={"name": "면"}, headers=h()).json["id"]
    noodles = items.post(
        f"/categories/{category}/items",
        json={"name": "냉면", "price": 9000, "sold_out": True},
        headers=h(),
    ).json["id"]
    model.deliver_menu_events()
    trust(model)
    assert lookup(model, [noodles])[noodles].sold_out is True  # the model's view
    group = items.post(f"/categories/items/{noodles}/option-groups", json=SIZE, headers=h()).json
    back_on_sale = items.put(
        f"/categories/items/{noodles}",
        json={"name": "냉면", "price": 9000, "sold_out": False},
        headers=h(),
    )
    assert back_on_sale.status_code == 200
    trust(model)  # caught up as far as the broker knows: the changes are not published yet
    large = group["options"][1]["option_id"]

    cart = {"table_no": 31, "carts": [{"item_id": noodles, "quantity": 1, "options": [large]}]}
    taken = orders.post("/orders/", json=cart, headers=h())
    assert taken.status_code == 200, taken.json
    assert taken.json["result"] == "success"
    detail = orders.get(f"/orders/{taken.json['order_id']}", headers=h()).json
    assert detail["total"] == 9500, detail
    stored = row(model, noodles)
    assert stored.sold_out is False and json.loads(stored.option_groups) == [group]

    bogus = {"table_no": 32, "carts": [{"item_id": noodles, "quantity": 1, "options": [999999]}]}
    refused = orders.post("/orders/", json=bogus, headers=h())
    assert refused.status_code == 409 and refused.json["error"]["code"] == "options_invalid"


def test_a_process_that_saw_the_model_trusted_reads_only_the_items_until_the_window_ends(
    service_app, serve, model
):
    """The freshness join is left out while the oldest confirmation seen is inside the window;
    past it, the next lookup asks ``menu_sync`` again and, unconfirmed since, falls back."""
    items = model.item_app.test_client()
    category = items.post("/categories/", json={"name": "차"}, headers=h()).json["id"]
    tea = items.post(
        f"/categories/{category}/items", json={"name": "녹차", "price": 3000}, headers=h()
    ).json["id"]
    assert model.deliver_menu_events() >= 1
    window = 0.6
    order_app = service_app(
        "order_service",
        item_service_url=serve(model.item_app).url,
        menu_items_topic=model.order_app.extensions["salesync"].settings.menu_items_topic,
        menu_freshness_seconds=window,
    )
    settings = order_app.extensions["salesync"].settings

    def looked_up() -> tuple[list[str], dict[int, Any]]:
        with order_app.app_context(), count_queries(db.engine) as statements:
            catalog = menu.lookup(db.session(), settings, STORE, [tea], clients.item_gateway())
            db.session.rollback()
        return statements, catalog

    with order_app.app_context():
        menu.record_caught_up(db.engine, CaughtUp(settings.menu_items_topic, 1, (0,), utcnow()))
    asked, catalog = looked_up()
    assert len(asked) == 1 and "menu_sync" in asked[0]
    assert catalog[tea].price == 3000
    asked, catalog = looked_up()
    assert len(asked) == 1 and "menu_sync" not in asked[0]  # known trusted: the items only
    assert catalog[tea].price == 3000

    time.sleep(window + 0.1)  # the confirmation leaves the window; no new one came
    asked, catalog = looked_up()
    assert "menu_sync" in asked[0]  # asked again: not trusted, so the item service answered
    assert any("menu_items" in statement and "INSERT" in statement for statement in asked)
    assert catalog[tea].price == 3000
