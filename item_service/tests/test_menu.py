"""Item service: public menu contract, ownership, bad input, query counts, internal endpoints."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from devstack.testing import auth_headers, count_queries, new_store_id, token_for
from item_service.app import services
from item_service.app.models import Category, Item, ItemCost, db

STORE_A, STORE_B = new_store_id(), new_store_id()
# v2 fields of a listed item, at their defaults (the first contract's fields are unchanged)
V2 = {"tax": "vat", "sold_out": False, "option_groups": []}


@pytest.fixture(scope="module")
def app(service_app):
    return service_app("item_service")


@pytest.fixture()
def client(app):
    return app.test_client()


def h(store_id: int = STORE_A) -> dict[str, str]:
    return auth_headers(token_for(store_id))


def svc(app) -> dict[str, str]:
    return {"X-Service-Token": app.extensions["salesync"].tokens.token()}


def new_category(client, name: str, store_id: int = STORE_A) -> int:
    response = client.post("/categories/", json={"name": name}, headers=h(store_id))
    assert response.status_code == 201, response.json
    return response.json["id"]


def new_item(client, category_id: int, name: str, price=1000, store_id: int = STORE_A, **extra):
    response = client.post(
        f"/categories/{category_id}/items",
        json={"name": name, "price": price, **extra},
        headers=h(store_id),
    )
    assert response.status_code == 201, response.json
    return response.json["id"]


def snapshot(app) -> tuple:
    with app.app_context():
        categories = db.session.execute(
            select(Category.id, Category.name, Category.retired_at).order_by(Category.id)
        ).all()
        items = db.session.execute(
            select(
                Item.id, Item.name, Item.price, Item.cost, Item.category_id, Item.retired_at
            ).order_by(Item.id)
        ).all()
        costs = db.session.scalar(select(func.count()).select_from(ItemCost))
        return categories, items, costs


def test_category_crud_contract(client):
    sid = new_store_id()
    first = new_category(client, "음료", sid)
    second = new_category(client, "식사", sid)
    listed = client.get("/categories/", headers=h(sid))
    assert listed.status_code == 200
    assert listed.json == {
        "categories": [{"id": first, "name": "음료"}, {"id": second, "name": "식사"}],
        "store_id": sid,
    }
    dup = client.post("/categories/", json={"name": "음료"}, headers=h(sid))
    assert dup.status_code == 409
    assert dup.json["result"] == "failed" and dup.json["message"] == "존재하는 카테고리"
    # the same name in another store is fine
    elsewhere = client.post("/categories/", json={"name": "음료"}, headers=h(new_store_id()))
    assert elsewhere.status_code == 201

    same = client.put(f"/categories/{first}", json={"name": "음료"}, headers=h(sid))
    assert same.status_code == 200
    assert same.json == {"result": "success", "message": "카테고리 수정 성공", "id": first}
    clash = client.put(f"/categories/{first}", json={"name": "식사"}, headers=h(sid))
    assert clash.status_code == 409 and clash.json["message"] == "존재하는 카테고리"
    renamed = client.put(f"/categories/{first}", json={"name": "커피"}, headers=h(sid))
    assert renamed.status_code == 200

    deleted = client.delete(f"/categories/{first}", headers=h(sid))
    assert deleted.status_code == 200
    assert deleted.json == {
        "result": "success",
        "message": "카테고리 삭제 성공",
        "category_id": first,
    }
    assert client.delete(f"/categories/{first}", headers=h(sid)).status_code == 404
    assert client.put(f"/categories/{first}", json={"name": "x"}, headers=h(sid)).status_code == 404
    # a retired name can be used again
    again = new_category(client, "커피", sid)
    assert [c["id"] for c in client.get("/categories", headers=h(sid)).json["categories"]] == [
        second,
        again,
    ]


def test_item_crud_and_nested_menu(client, app):
    sid = new_store_id()
    drinks = new_category(client, "음료", sid)
    empty = new_category(client, "빈 카테고리", sid)
    latte = new_item(client, drinks, "라떼", "4500", sid, cost=1200, description="우유")
    americano = new_item(client, drinks, "아메리카노", 3000, sid)
    menu = client.get("/categories/items", headers=h(sid))
    assert menu.status_code == 200
    assert menu.json == {
        "categories": [
            {
                "category_id": drinks,
                "category_name": "음료",
                "items": [
                    {"item_id": latte, "name": "라떼", "price": 4500, "cost": 1200} | V2,
                    {"item_id": americano, "name": "아메리카노", "price": 3000, "cost": None} | V2,
                ],
            },
            {"category_id": empty, "category_name": "빈 카테고리", "items": []},
        ]
    }
    dup = client.post(
        f"/categories/{drinks}/items", json={"name": "라떼", "price": 1}, headers=h(sid)
    )
    assert dup.status_code == 409 and dup.json == {**dup.json, "message": "존재하는 품목"}
    # same name in another category is fine
    assert new_item(client, empty, "라떼", 10, sid)

    updated = client.put(
        f"/categories/items/{americano}", json={"name": "아아", "price": "3500"}, headers=h(sid)
    )
    assert updated.status_code == 200
    assert updated.json == {"result": "success", "message": "품목 수정 성공", "item_id": americano}
    clash = client.put(
        f"/categories/items/{americano}", json={"name": "라떼", "price": 1}, headers=h(sid)
    )
    assert clash.status_code == 409 and clash.json["message"] == "존재하는 품목"
    moved = client.put(
        f"/categories/items/{americano}",
        json={"name": "아아", "price": 3500, "category_id": empty},
        headers=h(sid),
    )
    assert moved.status_code == 200
    with app.app_context():
        assert db.session.get(Item, americano).category_id == empty

    gone = client.delete(f"/categories/items/{latte}", headers=h(sid))
    assert gone.json == {"result": "success", "message": "품목 삭제 성공", "item_id": latte}
    assert client.delete(f"/categories/items/{latte}", headers=h(sid)).status_code == 404
    assert (
        client.put(
            f"/categories/items/{latte}", json={"name": "n", "price": 1}, headers=h(sid)
        ).status_code
        == 404
    )
    items = client.get("/categories/items", headers=h(sid)).json["categories"]
    assert items[0]["items"] == []
    assert [i["name"] for i in items[1]["items"]] == ["아아", "라떼"]

    # deleting a category retires its items (and they leave the menu)
    assert client.delete(f"/categories/{empty}", headers=h(sid)).status_code == 200
    with app.app_context():
        assert db.session.get(Item, americano).retired_at is not None
    assert client.get("/categories/items", headers=h(sid)).json["categories"] == [
        {"category_id": drinks, "category_name": "음료", "items": []}
    ]


def test_ownership(client, app):
    mine = new_category(client, "A-메뉴", STORE_A)
    item = new_item(client, mine, "A-품목", 100, STORE_A)
    before = snapshot(app)
    other = h(STORE_B)
    assert (
        client.put(f"/categories/{mine}", json={"name": "hack"}, headers=other).status_code == 404
    )
    assert client.delete(f"/categories/{mine}", headers=other).status_code == 404
    assert (
        client.post(
            f"/categories/{mine}/items", json={"name": "x", "price": 1}, headers=other
        ).status_code
        == 404
    )
    assert (
        client.put(
            f"/categories/items/{item}", json={"name": "x", "price": 1}, headers=other
        ).status_code
        == 404
    )
    assert client.delete(f"/categories/items/{item}", headers=other).status_code == 404
    # moving my item into another store's category is a 404 as well
    theirs = new_category(client, "B-메뉴", STORE_B)
    before = snapshot(app)
    assert (
        client.put(
            f"/categories/items/{item}",
            json={"name": "A-품목", "price": 1, "category_id": theirs},
            headers=h(STORE_A),
        ).status_code
        == 404
    )
    assert snapshot(app) == before
    listed = client.get("/categories/", headers=other).json["categories"]
    assert mine not in [c["id"] for c in listed]
    assert all(
        c["category_id"] != mine
        for c in client.get("/categories/items", headers=other).json["categories"]
    )


LONG = "가" * 10_000


@pytest.mark.parametrize(
    ("path_kind", "method", "body"),
    [
        ("cats", "post", {"name": ""}),
        ("cats", "post", {"name": "   "}),
        ("cats", "post", {"name": LONG}),
        ("cats", "post", {"name": 5}),
        ("cats", "post", {}),
        ("cats", "post", {"name": "a\x00b"}),
        ("items", "post", {"name": "x", "price": -1}),
        ("items", "post", {"name": "x", "price": "12a"}),
        ("items", "post", {"name": "x", "price": "-5"}),
        ("items", "post", {"name": "x", "price": 1.5}),
        ("items", "post", {"name": "x", "price": True}),
        ("items", "post", {"name": "x", "price": None}),
        ("items", "post", {"name": "x", "price": 100_000_001}),
        ("items", "post", {"name": "x", "price": [1]}),
        ("items", "post", {"name": LONG, "price": 1}),
        ("items", "post", {"name": "x", "price": 1, "cost": -1}),
        ("items", "post", {"name": "x", "price": 1, "cost": "abc"}),
        ("items", "post", {"name": "x", "price": 1, "description": "d" * 501}),
        ("item", "put", {"name": "x", "price": "1e3"}),
        ("item", "put", {"name": "x", "price": 1, "category_id": "1"}),
        ("item", "put", {"name": "x", "price": 1, "category_id": 0}),
    ],
)
def test_bad_input_is_4xx_and_changes_nothing(client, app, path_kind, method, body):
    sid = new_store_id()
    listed = client.get("/categories/", headers=h(sid)).json["categories"]
    category = listed[0]["id"] if listed else new_category(client, "bad-input", sid)
    menu = client.get("/categories/items", headers=h(sid)).json["categories"][0]["items"]
    item = menu[0]["item_id"] if menu else new_item(client, category, "seed", 1, sid)
    path = {
        "cats": "/categories/",
        "items": f"/categories/{category}/items",
        "item": f"/categories/items/{item}",
    }[path_kind]
    before = snapshot(app)
    response = getattr(client, method)(path, json=body, headers=h(sid))
    assert 400 <= response.status_code < 500
    assert response.json["result"] == "failed" and "error" in response.json
    assert snapshot(app) == before


def test_malformed_and_path_ids(client, app):
    before = snapshot(app)
    bad_json = client.post("/categories/", data="{nope", headers=h())
    assert bad_json.status_code == 400 and bad_json.json["error"]["code"] == "malformed_json"
    not_object = client.post("/categories/", json=["x"], headers=h())
    assert not_object.status_code == 400
    for path in (
        "/categories/abc",
        "/categories/-1",
        "/categories/99999999999",
        "/categories/items/x",
    ):
        response = client.put(path, json={"name": "n", "price": 1}, headers=h())
        assert response.status_code == 404 and response.json["result"] == "failed"
    assert client.get("/categories/", headers={}).status_code == 401
    assert snapshot(app) == before


def test_emoji_and_unicode_names_round_trip(client):
    sid = new_store_id()
    name = "🍜 라멘 🇰🇷 — café"
    category = new_category(client, name, sid)
    item = new_item(client, category, "🍺" * 100, "0", sid)
    menu = client.get("/categories/items", headers=h(sid)).json["categories"]
    assert menu[0]["category_name"] == name
    assert menu[0]["items"] == [
        {"item_id": item, "name": "🍺" * 100, "price": 0, "cost": None} | V2
    ]
    # the emoji name is unique too
    assert client.post("/categories/", json={"name": name}, headers=h(sid)).status_code == 409


def test_listings_use_one_query_regardless_of_size(client, app):
    sid = new_store_id()
    for c in range(2):
        category = new_category(client, f"c{c}", sid)
        new_item(client, category, "i0", 1, sid)
    with app.app_context(), count_queries(db.engine) as small_menu:
        assert client.get("/categories/items", headers=h(sid)).status_code == 200
    with app.app_context(), count_queries(db.engine) as small_list:
        assert client.get("/categories/", headers=h(sid)).status_code == 200
    for c in range(2, 8):
        category = new_category(client, f"c{c}", sid)
        for i in range(5):
            new_item(client, category, f"i{i}", i, sid, cost=i)
    with app.app_context(), count_queries(db.engine) as big_menu:
        body = client.get("/categories/items", headers=h(sid)).json
    with app.app_context(), count_queries(db.engine) as big_list:
        assert len(client.get("/categories/", headers=h(sid)).json["categories"]) == 8
    assert sum(len(c["items"]) for c in body["categories"]) == 32
    assert len(small_menu) == len(big_menu) == 1
    assert len(small_list) == len(big_list) == 1


def test_concurrent_creates_of_one_name(app):
    sid = new_store_id()
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def attempt() -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(
            client.post("/categories/", json={"name": "동시"}, headers=h(sid)).status_code
        )

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [409] * 7
    with app.app_context():
        count = db.session.scalar(
            select(func.count()).where(Category.store_id == sid, Category.name == "동시")
        )
    assert count == 1


# ---- costs and internal endpoints


def test_cost_history_and_cost_at(client, app):
    sid = new_store_id()
    category = new_category(client, "원가", sid)
    item = new_item(client, category, "원가품목", 5000, sid, cost=1000)
    with app.app_context():
        after_create = services.utcnow()
    # the same cost again adds nothing; a change adds an entry; a clear (null) adds one
    for cost, status in ((1000, 200), (1500, 200), (None, 200)):
        response = client.put(
            f"/categories/items/{item}",
            json={"name": "원가품목", "price": 5000, "cost": cost},
            headers=h(sid),
        )
        assert response.status_code == status
    # absent cost leaves it unchanged
    client.put(
        f"/categories/items/{item}", json={"name": "원가품목", "price": 5100}, headers=h(sid)
    )
    history = client.get(f"/internal/stores/{sid}/cost-history?ids={item}", headers=svc(app))
    assert history.status_code == 200
    entries = history.json["items"][0]["history"]
    assert history.json["items"][0]["item_id"] == item
    assert [e["cost"] for e in entries] == [1000, 1500, None]
    assert all(e["effective_from"].endswith("+00:00") for e in entries)
    with app.app_context():
        assert services.costs_at(db.session(), sid, [item], after_create) == {item: 1000}
        assert services.costs_at(db.session(), sid, [item], services.utcnow()) == {item: None}
        assert db.session.get(Item, item).cost is None
        # another store sees no history of it
        assert services.cost_history(db.session(), new_store_id(), [item]) == {}


def test_internal_items_batch(client, app):
    sid = new_store_id()
    category = new_category(client, "배치", sid)
    ids = [new_item(client, category, f"b{i}", 100 * i, sid, cost=i or None) for i in range(4)]
    client.delete(f"/categories/items/{ids[3]}", headers=h(sid))
    other = new_store_id()
    foreign = new_item(client, new_category(client, "남의것", other), "x", 1, other)
    query = ",".join(map(str, [*ids, foreign, 999_999]))
    with app.app_context(), count_queries(db.engine) as statements:
        response = client.get(f"/internal/stores/{sid}/items?ids={query}", headers=svc(app))
    assert response.status_code == 200
    assert len(statements) == 1
    assert response.json == {
        "items": [
            {"item_id": ids[0], "name": "b0", "price": 0, "cost": None, "category_id": category}
            | {"version": 1, "category_name": "배치", **V2},
            {"item_id": ids[1], "name": "b1", "price": 100, "cost": 1, "category_id": category}
            | {"version": 1, "category_name": "배치", **V2},
            {"item_id": ids[2], "name": "b2", "price": 200, "cost": 2, "category_id": category}
            | {"version": 1, "category_name": "배치", **V2},
        ]
    }
    # the service credential is required; a user token is not enough
    assert client.get(f"/internal/stores/{sid}/items?ids=1", headers=h(sid)).status_code == 401
    for bad in ("", "a", "1,,x", "-1", "0", ",".join(["1"] * 501), "99999999999"):
        r = client.get(f"/internal/stores/{sid}/items?ids={bad}", headers=svc(app))
        assert r.status_code == 422, bad


def test_internal_costs_all_or_nothing(client, app):
    sid = new_store_id()
    category = new_category(client, "원가페이지", sid)
    a = new_item(client, category, "a", 1000, sid)
    b = new_item(client, category, "b", 2000, sid, cost=500)
    page = client.get(f"/internal/stores/{sid}/costs", headers=svc(app))
    assert page.json == {
        "items": [
            {
                "category_id": category,
                "category_name": "원가페이지",
                "items": [
                    {"item_id": a, "name": "a", "price": 1000, "cost": None},
                    {"item_id": b, "name": "b", "price": 2000, "cost": 500},
                ],
            }
        ]
    }
    other = new_store_id()
    foreign = new_item(client, new_category(client, "f", other), "f", 1, other)
    before = snapshot(app)
    refused = client.post(
        f"/internal/stores/{sid}/costs",
        json={"items": [{"item_id": a, "cost": 300}, {"item_id": foreign, "cost": 1}]},
        headers=svc(app),
    )
    assert refused.status_code == 404 and str(foreign) in refused.json["error"]["fields"]["items"]
    assert snapshot(app) == before
    bad = client.post(
        f"/internal/stores/{sid}/costs",
        json={"items": [{"item_id": a, "cost": -3}]},
        headers=svc(app),
    )
    assert bad.status_code == 422 and snapshot(app) == before
    done = client.post(
        f"/internal/stores/{sid}/costs",
        json={"items": [{"item_id": a, "cost": 300}, {"item_id": b, "cost": None}]},
        headers=svc(app),
    )
    assert done.status_code == 200
    assert done.json == {
        "items": [
            # a's cost changed (version 2: a new event); setting b's cost to null left it alone
            {"item_id": a, "name": "a", "price": 1000, "cost": 300, "category_id": category}
            | {"version": 2, "category_name": "원가페이지", **V2},
            {"item_id": b, "name": "b", "price": 2000, "cost": 500, "category_id": category}
            | {"version": 1, "category_name": "원가페이지", **V2},
        ]
    }
    # only the changed cost opened an entry
    assert snapshot(app)[2] == before[2] + 1
    history = client.get(f"/internal/stores/{sid}/cost-history?ids={a},{b}", headers=svc(app)).json
    assert [[e["cost"] for e in i["history"]] for i in history["items"]] == [[300], [500]]


def test_openapi_documents_the_routes(client):
    document = client.get("/openapi.json").json
    for path in (
        "/categories/",
        "/categories/{category_id}",
        "/categories/items",
        "/categories/{category_id}/items",
        "/categories/items/{item_id}",
        "/internal/stores/{store_id}/items",
        "/internal/stores/{store_id}/costs",
        "/internal/stores/{store_id}/cost-history",
    ):
        assert path in document["paths"], path
