"""menu.items: every item change writes one outbox event (whole snapshot, bumped version).

The events are checked against the versioned JSON schema in contracts/events/; refused changes
write no event (they roll back with the change).
"""

from __future__ import annotations

import json

import jsonschema
import pytest
from sqlalchemy import select

from devstack.testing import auth_headers, new_store_id, token_for
from item_service.app.models import Outbox, db
from salesync_common.settings import REPO_ROOT

SCHEMA = json.loads((REPO_ROOT / "contracts" / "events" / "menu.items.v1.schema.json").read_text())
STORE = new_store_id()


@pytest.fixture(scope="module")
def app(service_app):
    return service_app("item_service")


def h(store_id: int = STORE) -> dict[str, str]:
    return auth_headers(token_for(store_id))


def svc(app) -> dict[str, str]:
    return {"X-Service-Token": app.extensions["salesync"].tokens.token()}


def events_after(app, last_id: int) -> list[dict]:
    with app.app_context():
        rows = db.session.execute(
            select(Outbox).where(Outbox.c.id > last_id).order_by(Outbox.c.id)
        ).all()
        db.session.rollback()
    for row in rows:
        assert row.topic == "menu.items"
        payload = json.loads(row.payload)
        assert row.key == str(payload["store_id"])
        assert payload["event_id"] == row.event_id
        jsonschema.validate(payload, SCHEMA, format_checker=jsonschema.FormatChecker())
    return [json.loads(row.payload) for row in rows]


def last_event_id(app) -> int:
    with app.app_context():
        value = db.session.scalar(select(Outbox.c.id).order_by(Outbox.c.id.desc()).limit(1))
        db.session.rollback()
        return value or 0


def test_every_change_writes_one_snapshot_event(app):
    client = app.test_client()
    mark = last_event_id(app)
    category = client.post("/categories/", json={"name": "이벤트"}, headers=h()).json["id"]
    assert events_after(app, mark) == []  # a category alone is no item change
    created = client.post(
        f"/categories/{category}/items",
        json={"name": "김밥", "price": 3000, "cost": 900},
        headers=h(),
    ).json["id"]
    other = client.post(
        f"/categories/{category}/items", json={"name": "라면", "price": 4000}, headers=h()
    ).json["id"]
    [first, second] = events_after(app, mark)
    assert {k: first[k] for k in ("item_id", "name", "price", "cost", "retired", "version")} == {
        "item_id": created,
        "name": "김밥",
        "price": 3000,
        "cost": 900,
        "retired": False,
        "version": 1,
    }
    assert (first["store_id"], first["category_id"]) == (STORE, category)
    assert second["item_id"] == other and second["cost"] is None

    mark = last_event_id(app)
    assert (
        client.put(
            f"/categories/items/{created}", json={"name": "참치김밥", "price": 3500}, headers=h()
        ).status_code
        == 200
    )
    # a refused change (name clash) writes no event
    assert (
        client.put(
            f"/categories/items/{other}", json={"name": "참치김밥", "price": 1}, headers=h()
        ).status_code
        == 409
    )
    # the cost page: a changed cost is an event, the same cost again is none
    for cost in (1200, 1200):
        assert (
            client.post(
                f"/internal/stores/{STORE}/costs",
                json={"items": [{"item_id": created, "cost": cost}]},
                headers=svc(app),
            ).status_code
            == 200
        )
    assert client.delete(f"/categories/items/{other}", headers=h()).status_code == 200
    updated, costed, retired = events_after(app, mark)
    assert (updated["item_id"], updated["name"], updated["price"], updated["version"]) == (
        created,
        "참치김밥",
        3500,
        2,
    )
    assert (costed["item_id"], costed["cost"], costed["version"]) == (created, 1200, 3)
    assert (retired["item_id"], retired["retired"], retired["version"]) == (other, True, 2)

    # retiring the category retires (and announces) each of its live items
    mark = last_event_id(app)
    assert client.delete(f"/categories/{category}", headers=h()).status_code == 200
    [cascaded] = events_after(app, mark)
    assert (cascaded["item_id"], cascaded["retired"], cascaded["version"]) == (created, True, 4)


def test_internal_lookup_carries_the_version(app):
    client = app.test_client()
    category = client.post("/categories/", json={"name": "버전"}, headers=h()).json["id"]
    item = client.post(
        f"/categories/{category}/items", json={"name": "우동", "price": 5000}, headers=h()
    ).json["id"]
    client.put(f"/categories/items/{item}", json={"name": "우동", "price": 5500}, headers=h())
    [answer] = client.get(f"/internal/stores/{STORE}/items?ids={item}", headers=svc(app)).json[
        "items"
    ]
    assert (answer["price"], answer["version"]) == (5500, 2)
