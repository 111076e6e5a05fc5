"""Item service v2: tax, sold_out and option groups (pos-v2.md "Menu").

CRUD contract of option groups, validation (every refusal is a 4xx JSON and writes nothing, no
event either), ownership, the one-query listing with option groups, and the menu.items snapshots
carrying tax, sold_out, category_name and option_groups (a category rename included).
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from sqlalchemy import func, select

from devstack.testing import auth_headers, count_queries, new_store_id, token_for
from item_service.app.models import Item, Option, OptionGroup, Outbox, db
from salesync_common.settings import REPO_ROOT

SCHEMA = json.loads((REPO_ROOT / "contracts" / "events" / "menu.items.v1.schema.json").read_text())
STORE, OTHER = new_store_id(), new_store_id()

SIZE = {
    "name": "사이즈",
    "min_select": 1,
    "max_select": 1,
    "options": [{"name": "레귤러", "price_delta": 0}, {"name": "라지", "price_delta": 500}],
}


@pytest.fixture(scope="module")
def app(service_app):
    return service_app("item_service")


@pytest.fixture()
def client(app):
    return app.test_client()


def h(store_id: int = STORE) -> dict[str, str]:
    return auth_headers(token_for(store_id))


def svc(app) -> dict[str, str]:
    return {"X-Service-Token": app.extensions["salesync"].tokens.token()}


def new_category(client, name: str, store_id: int = STORE) -> int:
    response = client.post("/categories/", json={"name": name}, headers=h(store_id))
    assert response.status_code == 201, response.json
    return response.json["id"]


def new_item(client, category_id: int, name: str, store_id: int = STORE, **extra: Any) -> int:
    response = client.post(
        f"/categories/{category_id}/items",
        json={"name": name, "price": 3000, **extra},
        headers=h(store_id),
    )
    assert response.status_code == 201, response.json
    return response.json["id"]


def new_group(client, item_id: int, body: dict[str, Any] = SIZE, store_id: int = STORE) -> dict:
    response = client.post(
        f"/categories/items/{item_id}/option-groups", json=body, headers=h(store_id)
    )
    assert response.status_code == 201, response.json
    return response.json


def listed(client, item_id: int, store_id: int = STORE) -> dict[str, Any]:
    for category in client.get("/categories/items", headers=h(store_id)).json["categories"]:
        for item in category["items"]:
            if item["item_id"] == item_id:
                return item
    raise AssertionError(f"item {item_id} is not listed")


def tables(app) -> tuple:
    """Everything a refused call must leave as it was (events included)."""
    with app.app_context():
        state = (
            db.session.execute(
                select(Item.id, Item.tax, Item.sold_out, Item.version).order_by(Item.id)
            ).all(),
            db.session.execute(
                select(
                    OptionGroup.id,
                    OptionGroup.name,
                    OptionGroup.min_select,
                    OptionGroup.max_select,
                    OptionGroup.retired_at,
                ).order_by(OptionGroup.id)
            ).all(),
            db.session.execute(
                select(Option.id, Option.name, Option.price_delta, Option.retired_at).order_by(
                    Option.id
                )
            ).all(),
            db.session.scalar(select(func.count()).select_from(Outbox)),
        )
        db.session.rollback()
        return state


def events_after(app, last_id: int) -> list[dict[str, Any]]:
    with app.app_context():
        rows = db.session.execute(
            select(Outbox).where(Outbox.c.id > last_id).order_by(Outbox.c.id)
        ).all()
        db.session.rollback()
    payloads = [json.loads(row.payload) for row in rows]
    for payload in payloads:
        jsonschema.validate(payload, SCHEMA, format_checker=jsonschema.FormatChecker())
    return payloads


def last_event_id(app) -> int:
    with app.app_context():
        value = db.session.scalar(select(Outbox.c.id).order_by(Outbox.c.id.desc()).limit(1))
        db.session.rollback()
        return value or 0


def test_tax_and_sold_out_round_trip(client, app):
    category = new_category(client, "세금")
    plain = new_item(client, category, "기본")
    exempt = new_item(client, category, "생수", tax="exempt", sold_out=True)
    assert listed(client, plain) | {"item_id": 0} == {
        "item_id": 0,
        "name": "기본",
        "price": 3000,
        "cost": None,
        "tax": "vat",
        "sold_out": False,
        "option_groups": [],
    }
    assert (listed(client, exempt)["tax"], listed(client, exempt)["sold_out"]) == ("exempt", True)
    # PUT without them leaves them unchanged; with them, sets them
    kept = client.put(
        f"/categories/items/{exempt}", json={"name": "생수", "price": 900}, headers=h()
    )
    assert kept.status_code == 200
    assert (listed(client, exempt)["tax"], listed(client, exempt)["sold_out"]) == ("exempt", True)
    changed = client.put(
        f"/categories/items/{exempt}",
        json={"name": "생수", "price": 900, "tax": "vat", "sold_out": False},
        headers=h(),
    )
    assert changed.status_code == 200 and changed.json["item_id"] == exempt
    assert (listed(client, exempt)["tax"], listed(client, exempt)["sold_out"]) == ("vat", False)

    before = tables(app)
    for body in (
        {"tax": "zero"},
        {"tax": None},
        {"tax": 1},
        {"sold_out": "true"},
        {"sold_out": 1},
        {"sold_out": None},
    ):
        for method, path in (
            ("post", f"/categories/{category}/items"),
            ("put", f"/categories/items/{plain}"),
        ):
            response = getattr(client, method)(
                path, json={"name": "잘못", "price": 1, **body}, headers=h()
            )
            assert response.status_code == 422, (method, body)
            assert response.json["result"] == "failed"
    assert tables(app) == before


def test_option_group_crud_contract(client, app):
    item = new_item(client, new_category(client, "커피"), "라떼")
    created = new_group(client, item)
    [regular, large] = created["options"]
    assert created == {
        "group_id": created["group_id"],
        "name": "사이즈",
        "min_select": 1,
        "max_select": 1,
        "options": [
            {"option_id": regular["option_id"], "name": "레귤러", "price_delta": 0},
            {"option_id": large["option_id"], "name": "라지", "price_delta": 500},
        ],
    }
    assert regular["option_id"] < large["option_id"]
    shots = new_group(
        client,
        item,
        {
            "name": "샷 추가",
            "min_select": 0,
            "max_select": 2,
            "options": [
                {"name": "샷", "price_delta": 500},
                {"name": "디카페인", "price_delta": -300},
            ],
        },
    )
    assert shots["group_id"] > created["group_id"]
    assert listed(client, item)["option_groups"] == [created, shots]

    # replace: kept ids keep their id (renamed/repriced), new ones get ids, missing ones retire
    group = created["group_id"]
    replaced = client.put(
        f"/categories/items/option-groups/{group}",
        json={
            "name": "크기",
            "min_select": 0,
            "max_select": 2,
            "options": [
                {"name": "벤티", "price_delta": 1000},
                {"option_id": large["option_id"], "name": "그란데", "price_delta": 700},
            ],
        },
        headers=h(),
    )
    assert replaced.status_code == 200, replaced.json
    [grande, venti] = replaced.json["options"]
    assert grande == {"option_id": large["option_id"], "name": "그란데", "price_delta": 700}
    assert venti["name"] == "벤티" and venti["option_id"] > large["option_id"]
    assert replaced.json | {"options": []} == {
        "group_id": group,
        "name": "크기",
        "min_select": 0,
        "max_select": 2,
        "options": [],
    }
    assert listed(client, item)["option_groups"] == [replaced.json, shots]
    with app.app_context():
        retired = db.session.get(Option, regular["option_id"])
        assert retired is not None and retired.retired_at is not None  # retired, never deleted
    # a retired option cannot be named again
    stale = client.put(
        f"/categories/items/option-groups/{group}",
        json={
            **SIZE,
            "options": [{"option_id": regular["option_id"], "name": "x", "price_delta": 0}],
        },
        headers=h(),
    )
    assert stale.status_code == 404 and stale.json["error"]["code"] == "option_not_found"

    gone = client.delete(f"/categories/items/option-groups/{group}", headers=h())
    assert gone.status_code == 200
    assert gone.json == {"result": "success", "message": "옵션 그룹 삭제 성공", "group_id": group}
    assert listed(client, item)["option_groups"] == [shots]
    with app.app_context():
        row = db.session.get(OptionGroup, group)
        assert row is not None and row.retired_at is not None
    for call in (
        client.delete(f"/categories/items/option-groups/{group}", headers=h()),
        client.put(f"/categories/items/option-groups/{group}", json=SIZE, headers=h()),
    ):
        assert call.status_code == 404 and call.json["error"]["code"] == "option_group_not_found"

    # a retired item's groups are gone with it
    assert client.delete(f"/categories/items/{item}", headers=h()).status_code == 200
    shots_id = shots["group_id"]
    assert (
        client.put(
            f"/categories/items/option-groups/{shots_id}", json=SIZE, headers=h()
        ).status_code
        == 404
    )
    assert (
        client.post(f"/categories/items/{item}/option-groups", json=SIZE, headers=h()).status_code
        == 404
    )


def test_foreign_ids_are_404_and_change_nothing(client, app):
    mine = new_item(client, new_category(client, "내 것"), "내 품목")
    group = new_group(client, mine)
    theirs = new_item(client, new_category(client, "남의 것", OTHER), "남 품목", OTHER)
    their_group = new_group(client, theirs, store_id=OTHER)
    before = tables(app)
    calls = [
        client.post(f"/categories/items/{mine}/option-groups", json=SIZE, headers=h(OTHER)),
        client.put(
            f"/categories/items/option-groups/{group['group_id']}", json=SIZE, headers=h(OTHER)
        ),
        client.delete(f"/categories/items/option-groups/{group['group_id']}", headers=h(OTHER)),
        client.post("/categories/items/999999999/option-groups", json=SIZE, headers=h()),
        # another group's (and another store's) option id inside my group
        client.put(
            f"/categories/items/option-groups/{group['group_id']}",
            json={
                **SIZE,
                "options": [
                    {
                        "option_id": their_group["options"][0]["option_id"],
                        "name": "x",
                        "price_delta": 1,
                    }
                ],
            },
            headers=h(),
        ),
    ]
    for response in calls:
        assert response.status_code == 404, response.json
        assert response.json["result"] == "failed"
    assert tables(app) == before
    assert listed(client, mine)["option_groups"] == [group]


def _options(count: int) -> list[dict[str, Any]]:
    return [{"name": f"o{i}", "price_delta": i} for i in range(count)]


BAD_GROUPS: list[Any] = [
    {**SIZE, "min_select": 2, "max_select": 1},  # min > max
    {**SIZE, "max_select": 3},  # max > number of options
    {**SIZE, "min_select": 0, "max_select": 0},  # max < 1
    {**SIZE, "min_select": -1},
    {**SIZE, "options": []},
    {**SIZE, "max_select": 1, "options": _options(51)},
    {**SIZE, "options": [{"name": "a", "price_delta": 100_000_001}]},
    {**SIZE, "options": [{"name": "a", "price_delta": -100_000_001}]},
    {**SIZE, "options": [{"name": "a", "price_delta": 10**30}]},
    {**SIZE, "options": [{"name": "a", "price_delta": "500"}]},
    {**SIZE, "options": [{"name": "a", "price_delta": 1.5}]},
    {**SIZE, "options": [{"name": "a", "price_delta": True}]},
    {**SIZE, "options": [{"name": "a"}]},
    {**SIZE, "options": [{"name": "", "price_delta": 0}]},
    {**SIZE, "options": [{"name": "가" * 101, "price_delta": 0}]},
    {**SIZE, "options": [{"name": "같음", "price_delta": 0}, {"name": " 같음 ", "price_delta": 1}]},
    {**SIZE, "options": "레귤러"},
    {**SIZE, "min_select": "1"},
    {**SIZE, "max_select": None},
    {**SIZE, "name": ""},
    {**SIZE, "name": "가" * 101},
    {key: value for key, value in SIZE.items() if key != "options"},
    ["not", "an", "object"],
]


@pytest.mark.parametrize("body", BAD_GROUPS)
def test_bad_groups_are_4xx_and_change_nothing(client, app, body):
    listed_items = client.get("/categories/items", headers=h(5503)).json["categories"]
    if listed_items:
        item = listed_items[0]["items"][0]["item_id"]
        group = listed(client, item, 5503)["option_groups"][0]
    else:
        item = new_item(client, new_category(client, "검증", 5503), "검증 품목", 5503)
        group = new_group(client, item, store_id=5503)
    before = tables(app)
    for method, path in (
        ("post", f"/categories/items/{item}/option-groups"),
        ("put", f"/categories/items/option-groups/{group['group_id']}"),
    ):
        response = getattr(client, method)(path, json=body, headers=h(5503))
        assert 400 <= response.status_code < 500, (method, response.json)
        assert response.json["result"] == "failed" and "error" in response.json
    assert tables(app) == before
    assert listed(client, item, 5503)["option_groups"] == [group]


def test_duplicate_option_ids_in_a_replacement_are_refused(client, app):
    item = new_item(client, new_category(client, "중복"), "중복 품목")
    group = new_group(client, item)
    option_id = group["options"][0]["option_id"]
    before = tables(app)
    response = client.put(
        f"/categories/items/option-groups/{group['group_id']}",
        json={
            **SIZE,
            "options": [
                {"option_id": option_id, "name": "a", "price_delta": 0},
                {"option_id": option_id, "name": "b", "price_delta": 0},
            ],
        },
        headers=h(),
    )
    assert response.status_code == 422
    assert tables(app) == before


def test_listing_with_option_groups_is_one_query(client, app):
    sid = new_store_id()
    first = new_item(client, new_category(client, "c0", sid), "i0", sid)
    new_group(client, first, store_id=sid)
    with app.app_context(), count_queries(db.engine) as small:
        assert client.get("/categories/items", headers=h(sid)).status_code == 200
    for c in range(1, 5):
        category = new_category(client, f"c{c}", sid)
        for i in range(4):
            item = new_item(client, category, f"i{i}", sid)
            for g in range(i):
                new_group(client, item, {**SIZE, "name": f"g{g}", "options": _options(3)}, sid)
    with app.app_context(), count_queries(db.engine) as big:
        body = client.get("/categories/items", headers=h(sid)).json
    with app.app_context(), count_queries(db.engine) as lookup:
        ids = ",".join(str(i["item_id"]) for c in body["categories"] for i in c["items"])
        rows = client.get(f"/internal/stores/{sid}/items?ids={ids}", headers=svc(app)).json
    assert len(small) == len(big) == len(lookup) == 1
    items = [item for category in body["categories"] for item in category["items"]]
    assert len(items) == 17
    assert sum(len(item["option_groups"]) for item in items) == 1 + 4 * (0 + 1 + 2 + 3)
    assert all(len(group["options"]) in (2, 3) for item in items for group in item["option_groups"])
    # the internal lookup shows the same groups, with the category name
    by_id = {row["item_id"]: row for row in rows["items"]}
    for category in body["categories"]:
        for item in category["items"]:
            row = by_id[item["item_id"]]
            assert row["option_groups"] == item["option_groups"]
            assert row["category_name"] == category["category_name"]
            assert (row["tax"], row["sold_out"]) == ("vat", False)


def test_events_carry_the_new_fields(client, app):
    category = new_category(client, "이벤트2")
    mark = last_event_id(app)
    item = new_item(client, category, "빙수", tax="exempt")
    group = new_group(client, item)
    replaced = client.put(
        f"/categories/items/option-groups/{group['group_id']}",
        json={**SIZE, "options": [{"name": "곱빼기", "price_delta": 2000}]},
        headers=h(),
    ).json
    client.put(
        f"/categories/items/{item}",
        json={"name": "빙수", "price": 3000, "sold_out": True},
        headers=h(),
    )
    client.delete(f"/categories/items/option-groups/{group['group_id']}", headers=h())
    created, grouped, regrouped, sold_out, ungrouped = events_after(app, mark)
    assert [e["version"] for e in (created, grouped, regrouped, sold_out, ungrouped)] == [
        1,
        2,
        3,
        4,
        5,
    ]
    assert (created["tax"], created["sold_out"], created["category_name"]) == (
        "exempt",
        False,
        "이벤트2",
    )
    assert created["option_groups"] == []
    assert grouped["option_groups"] == [group]
    assert regrouped["option_groups"] == [replaced]
    assert (sold_out["sold_out"], sold_out["option_groups"]) == (True, [replaced])
    assert ungrouped["option_groups"] == []

    # a category rename announces each live item with the new name; the same name announces none
    other = new_item(client, category, "팥빙수")
    client.delete(f"/categories/items/{other}", headers=h())
    live = new_item(client, category, "눈꽃빙수")
    mark = last_event_id(app)
    assert (
        client.put(f"/categories/{category}", json={"name": "디저트"}, headers=h()).status_code
        == 200
    )
    renamed = events_after(app, mark)
    assert [(e["item_id"], e["category_name"]) for e in renamed] == [
        (item, "디저트"),
        (live, "디저트"),
    ]
    assert renamed[0]["version"] == 6 and renamed[0]["sold_out"] is True
    mark = last_event_id(app)
    assert (
        client.put(f"/categories/{category}", json={"name": "디저트"}, headers=h()).status_code
        == 200
    )
    # a refused rename (name clash) announces nothing either
    new_category(client, "음료2")
    assert (
        client.put(f"/categories/{category}", json={"name": "음료2"}, headers=h()).status_code
        == 409
    )
    assert events_after(app, mark) == []


def test_openapi_documents_option_groups_with_examples(client):
    document = client.get("/openapi.json").json
    post = document["paths"]["/categories/items/{item_id}/option-groups"]["post"]
    assert "201" in post["responses"]
    for path in ("/categories/items/option-groups/{group_id}",):
        assert {"put", "delete"} <= set(document["paths"][path])
    text = json.dumps(document, ensure_ascii=False)
    assert "라지" in text and '"sold_out"' in text and '"exempt"' in text
