"""Dashboard HTTP contract on PostgreSQL against a fake of the internal endpoints it calls."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from dashboard_service.app.consumer import ResultHandler
from dashboard_service.app.models import ConsultingResult, db
from devstack.testing import auth_headers, token_for

from .fakes import FakeUpstream

STORE = 4101
OTHER = 4102


@pytest.fixture(scope="module")
def upstream(serve):
    fake = FakeUpstream()
    fake.item_sales[STORE] = [
        {
            "date": "2026-11-01",
            "item_id": 1,
            "item_name": "김밥",
            "quantity": 3,
            "sales_volume": 9000,
            "cost_total": 3000,
            "uncosted_quantity": 0,
            "uncosted_first_paid_at": None,
        },
        {
            "date": "2026-11-03",
            "item_id": 2,
            "item_name": "라면",
            "quantity": 2,
            "sales_volume": 8000,
            "cost_total": 0,
            "uncosted_quantity": 2,
            "uncosted_first_paid_at": "2026-11-03T02:00:00+00:00",
        },
    ]
    fake.histories[STORE] = {2: [{"cost": 1500, "effective_from": "2026-11-04T00:00:00+00:00"}]}
    fake.daily[STORE] = [
        {"date": "2026-11-01", "sales_volume": 9000, "payments": 1, "refunded": 0},
        {"date": "2026-11-03", "sales_volume": 4000, "payments": 1, "refunded": 1},
    ]
    fake.costs[STORE] = [
        {
            "category_id": 10,
            "category_name": "분식",
            "items": [
                {"item_id": 1, "name": "김밥", "price": 3000, "cost": 1000},
                {"item_id": 2, "name": "라면", "price": 4000, "cost": None},
            ],
        },
        {"category_id": 11, "category_name": "빈 카테고리", "items": []},
    ]
    served = serve(fake.app())
    fake.url = served.url
    return fake


@pytest.fixture(scope="module")
def app(service_app, upstream):
    urls = {f"{name}_service_url": upstream.url for name in ("store", "item", "order", "sale")}
    return service_app("dashboard_service", rate_limits_enabled=False, **urls)


@pytest.fixture()
def client(app):
    return app.test_client()


def headers(store_id=STORE):
    return auth_headers(token_for(store_id))


def test_sales_one_call_per_owner(client, upstream):
    upstream.calls.clear()
    response = client.get("/dashboard/sales?start=2026-11-01&end=2026-11-03", headers=headers())
    assert response.status_code == 200
    assert response.json == {
        "result": "success",
        "message": "매출 조회 성공",
        "start_date": "2026-11-01",
        "end_date": "2026-11-03",
        "sales_volume": 13000,
        "items": [
            {"item_id": 1, "name": "김밥", "sales_volume": 9000, "profit": 6000, "quantity": 3},
            {"item_id": 2, "name": "라면", "sales_volume": 8000, "profit": 5000, "quantity": 2},
        ],
    }
    paths = [call[1] for call in upstream.calls]
    assert paths == [
        f"/internal/stores/{STORE}/item-sales",
        f"/internal/stores/{STORE}/cost-history",
        f"/internal/stores/{STORE}/daily-totals",
    ]
    assert upstream.calls[1][2] == {"ids": "2"}  # only the item with uncosted units


def test_volumes_one_entry_per_day(client, upstream):
    response = client.get("/dashboard/volumes?start=2026-10-31&end=2026-11-03", headers=headers())
    assert response.status_code == 200
    assert response.json["message"] == "기간별 매출 조회 성공"
    assert response.json["start_date"] == "2026-10-31"
    assert response.json["total"] == [
        {"date": "2026-10-31", "sales_volume": 0, "profit": 0},
        {"date": "2026-11-01", "sales_volume": 9000, "profit": 6000},
        {"date": "2026-11-02", "sales_volume": 0, "profit": 0},
        {"date": "2026-11-03", "sales_volume": 4000, "profit": 5000},
    ]


def test_other_store_sees_nothing_and_no_history_call(client, upstream):
    upstream.calls.clear()
    response = client.get(
        "/dashboard/sales?start=2026-11-01&end=2026-11-03", headers=headers(OTHER)
    )
    assert response.json["items"] == [] and response.json["sales_volume"] == 0
    assert not upstream.calls_to("cost-history")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "start=2026-11-01",
        "start=2026-11-05&end=2026-11-01",
        "start=2026-13-01&end=2026-12-01",
        "start=20261101&end=2026-11-02",
        "start=2025-01-01&end=2026-01-02",
    ],
)
def test_bad_dates_are_400(client, query):
    for path in ("/dashboard/sales", "/dashboard/volumes"):
        response = client.get(f"{path}?{query}", headers=headers())
        assert response.status_code == 400, (path, query)
        assert response.json["result"] == "failed"
        assert response.json["error"]["code"] == "invalid_dates"


def test_366_days_allowed(client):
    response = client.get("/dashboard/volumes?start=2024-01-01&end=2024-12-31", headers=headers())
    assert response.status_code == 200
    assert len(response.json["total"]) == 366


def test_auth_required(client):
    assert client.get("/dashboard/sales?start=2026-11-01&end=2026-11-01").status_code == 401


def test_costs_get_and_save(client, upstream):
    got = client.get("/dashboard/costs", headers=headers())
    assert got.status_code == 200
    assert got.json["result"] == "success" and got.json["message"] == "원가 조회 성공"
    groups = got.json["items"]
    assert [g["category_name"] for g in groups] == ["분식", "빈 카테고리"]
    groups[0]["items"][1]["cost"] = 1200
    upstream.calls.clear()
    saved = client.post("/dashboard/costs", json={"items": groups}, headers=headers())
    assert saved.status_code == 200, saved.json
    assert saved.json["result"] == "success" and saved.json["message"] == "원가 등록 성공"
    posted = upstream.calls_to("/costs")
    assert len(posted) == 1
    assert posted[0][3] == {"items": [{"item_id": 1, "cost": 1000}, {"item_id": 2, "cost": 1200}]}
    assert {i["item_id"]: i["cost"] for i in saved.json["items"]} == {1: 1000, 2: 1200}


def test_costs_all_or_nothing_and_validation(client, upstream):
    before = [dict(i) for i in upstream.costs[STORE][0]["items"]]
    unknown = {
        "items": [
            {"category_id": 10, "items": [{"item_id": 1, "cost": 1}, {"item_id": 999, "cost": 5}]}
        ]
    }
    response = client.post("/dashboard/costs", json=unknown, headers=headers())
    assert response.status_code == 404 and response.json["result"] == "failed"
    assert upstream.costs[STORE][0]["items"] == before
    upstream.calls.clear()
    for bad in (
        {"items": [{"items": [{"item_id": 1, "cost": -1}]}]},
        {"items": [{"items": [{"item_id": 1, "cost": "abc"}]}]},
        {"items": [{"item_id": 1, "cost": 1}, {"item_id": 1, "cost": 2}]},
        {"items": "x"},
        {},
    ):
        response = client.post("/dashboard/costs", json=bad, headers=headers())
        assert response.status_code == 422, bad
    assert upstream.calls == []  # nothing forwarded
    bad_json = client.post("/dashboard/costs", data="{", headers=headers())
    assert bad_json.status_code == 400


def event(req_id, store_id=STORE, status="succeeded", advice="매출 1위는 김밥입니다."):
    return {
        "event_id": str(uuid.uuid4()),
        "req_id": req_id,
        "store_id": store_id,
        "status": status,
        "advice": advice,
        "model": "offline-analyst",
        "created_at": "2026-11-23T10:00:00+00:00",
    }


def test_consulting_results_idempotent_and_owned(app, client):
    with app.app_context():
        handler = ResultHandler(db.engine)
    req_id = uuid.uuid4().hex
    path = f"/dashboard/consulting/{req_id}"
    assert client.get(path, headers=headers()).json == {
        "result": "not completed",
        "message": "컨설팅 진행 중",
    }
    first = event(req_id)
    assert handler.handle_value(first) is True
    assert handler.handle_value(first) is False  # redelivery
    assert handler.handle_value({**event(req_id), "advice": "다른 내용"}) is False
    assert handler.handle_value({"req_id": "x"}) is False  # malformed: skipped
    with app.app_context():
        rows = db.session.scalars(
            select(ConsultingResult).where(ConsultingResult.req_id == req_id)
        ).all()
        assert len(rows) == 1 and rows[0].advice == "매출 1위는 김밥입니다."
    for p in (path, f"/dashboard/consulting/test/{req_id}"):
        body = client.get(p, headers=headers()).json
        assert body == {
            "result": "success",
            "message": "상담 요청 조회 성공",
            "consulting": "매출 1위는 김밥입니다.",
        }
    assert client.get(path, headers=headers(OTHER)).status_code == 404
    assert client.get("/dashboard/consulting/not-an-id", headers=headers()).status_code == 404

    failed_id = uuid.uuid4().hex
    handler.handle_value(event(failed_id, status="failed", advice=None))
    body = client.get(f"/dashboard/consulting/{failed_id}", headers=headers()).json
    assert body["result"] == "failed"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ConsultingResult)) >= 2


def test_internal_endpoints_need_service_token(app, client, upstream):
    from salesync_common.app import runtime

    assert (
        client.get(
            f"/internal/stores/{STORE}/sales-report?start=2026-11-01&end=2026-11-03"
        ).status_code
        == 401
    )
    with app.test_request_context():
        token = runtime().tokens.token()
    service = {"X-Service-Token": token}
    report = client.get(
        f"/internal/stores/{STORE}/sales-report?start=2026-11-01&end=2026-11-03", headers=service
    )
    assert report.status_code == 200
    assert report.json["sales_volume"] == 13000
    assert len(report.json["days"]) == 3 and report.json["uncosted_items"] == []
    req_id = uuid.uuid4().hex
    status = client.get(f"/internal/stores/{STORE}/consulting/{req_id}", headers=service)
    assert status.json == {"status": None}
    with app.app_context():
        ResultHandler(db.engine).handle_value(event(req_id))
    status = client.get(f"/internal/stores/{STORE}/consulting/{req_id}", headers=service)
    assert status.json == {"status": "succeeded"}
    other = client.get(f"/internal/stores/{OTHER}/consulting/{req_id}", headers=service)
    assert other.json == {"status": None}
