"""Every public endpoint of every service, called with each role's token.

The six services run on PostgreSQL and on real ports, calling each other, so each example below is
a request that succeeds for the owner. For each (endpoint, staff role): a role without the
endpoint's permission gets 403 ``forbidden`` and no table of any service changes; a role with it
is not refused. Then the owner's token does every call. A new store-authenticated endpoint must
declare its permission and get an example here, or the first two tests fail.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import select

from devstack.testing import auth_headers, free_port, staff_token_for
from salesync_common import permissions
from salesync_common.api import EndpointSpec, endpoint_spec
from salesync_common.auth import StoreIdentity

SERVICES = ("store", "item", "order", "sale", "dashboard", "consulting")
ROLES = ("manager", "cashier")
OWNER_PIN, MEMBER_PIN, NEW_PIN = "2580", "1357", "1470"


@dataclass(frozen=True)
class Example:
    service: str
    method: str
    path: str  # formatted with the world's ids
    body: dict[str, Any] | None = None
    owner_status: int | None = None  # what the owner gets (None: anything but 403 and 5xx)

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


# In the order the owner replays them (deletions after what uses the deleted row).
EXAMPLES: tuple[Example, ...] = (
    Example("store", "GET", "/stores/", owner_status=200),
    Example("store", "POST", "/stores/pwcheck", {"password": "secret-pw"}, 200),
    Example("store", "PUT", "/stores/{store_id}", {"owner_name": "새 사장"}, 200),
    Example("store", "GET", "/stores/staff", owner_status=200),
    Example(
        "store",
        "POST",
        "/stores/staff",
        {"name": "새 직원", "role": "cashier", "pin": NEW_PIN},
        201,
    ),
    Example("store", "PUT", "/stores/staff/{staff_id}", {"name": "이름 변경"}, 200),
    Example("store", "POST", "/stores/staff/session", {"pin": MEMBER_PIN}, 200),
    Example("store", "DELETE", "/stores/staff/{staff_id}", owner_status=200),
    Example("item", "GET", "/categories/", owner_status=200),
    Example("item", "POST", "/categories/", {"name": "새 카테고리"}, 201),
    Example("item", "PUT", "/categories/{category_id}", {"name": "바뀐 카테고리"}, 200),
    Example("item", "GET", "/categories/items", owner_status=200),
    Example(
        "item", "POST", "/categories/{category_id}/items", {"name": "새 품목", "price": 1000}, 201
    ),
    Example(
        "item", "PUT", "/categories/items/{item_id}", {"name": "바뀐 품목", "price": 1500}, 200
    ),
    Example(
        "item",
        "POST",
        "/categories/items/{item_id}/option-groups",
        {
            "name": "사이즈",
            "min_select": 1,
            "max_select": 1,
            "options": [{"name": "레귤러", "price_delta": 0}, {"name": "라지", "price_delta": 500}],
        },
        201,
    ),
    Example(
        "item",
        "PUT",
        "/categories/items/option-groups/{group_id}",
        {
            "name": "샷",
            "min_select": 0,
            "max_select": 1,
            "options": [{"name": "샷 추가", "price_delta": 500}],
        },
        200,
    ),
    Example("item", "DELETE", "/categories/items/option-groups/{group_id}", owner_status=200),
    Example("item", "DELETE", "/categories/items/{item_id}", owner_status=200),
    Example("item", "DELETE", "/categories/{category_id}", owner_status=200),
    Example("order", "GET", "/orders/unpaids", owner_status=200),
    # Only the status is read: the stream itself is never consumed here.
    Example("order", "GET", "/orders/stream", owner_status=200),
    Example("order", "GET", "/orders/unpaids/7", owner_status=200),
    Example(
        "order",
        "POST",
        "/orders/",
        {"table_no": 7, "carts": [{"item_id": "{kept_item_id}", "quantity": 1}]},
        200,
    ),
    Example(
        "order",
        "PUT",
        "/orders/",
        {"table_no": 7, "carts": [{"item_id": "{kept_item_id}", "quantity": 2}]},
        200,
    ),
    Example("order", "GET", "/orders/{open_order_id}", owner_status=200),
    Example("order", "GET", "/orders/{open_order_id}/split?ways=2", owner_status=200),
    Example(
        "order",
        "POST",
        "/orders/{open_order_id}/discounts",
        {"scope": "order", "kind": "amount", "value": 100, "reason": "단골"},
        201,
    ),
    # a manager's call removes it first: the owner's replay may find it gone (404)
    Example("order", "DELETE", "/orders/{open_order_id}/discounts/{discount_id}"),
    Example("order", "GET", "/orders/{open_order_id}/events", owner_status=200),
    # every role may move tables: the first caller moves 7 to 9; later ones find 7 free (404)
    Example("order", "POST", "/orders/tables/7/transfer", {"to_table": 9}),
    # one unit of table 8's three per caller; the third caller would empty it (409)
    Example(
        "order",
        "POST",
        "/orders/tables/8/move-lines",
        {"to_table": 11, "lines": [{"item_id": "{kept_item_id}", "quantity": 1}]},
    ),
    Example("order", "DELETE", "/orders/7", owner_status=200),
    Example(
        "sale", "POST", "/sales/payments", {"table_no": 5, "amount": 1000, "payment_type": "cash"}
    ),
    Example(
        "sale", "POST", "/sales/", {"table_no": 5, "payment_type": "카드", "total_price": 6000}
    ),
    Example("sale", "GET", "/sales/", owner_status=200),
    Example("sale", "GET", "/sales/receipts/{receipt_no}", owner_status=200),
    Example("order", "GET", "/orders/{paid_order_id}/receipt", owner_status=200),
    Example("sale", "POST", "/sales/{sale_id}/refunds", {"amount": 100, "reason": "권한 확인"}),
    Example("sale", "DELETE", "/sales/{sale_id}"),
    # Staff roles may find a shift open (409) or none (409 on the current shift's calls).
    Example("sale", "POST", "/sales/shifts", {"opening_float": 50000}),
    Example(
        "sale",
        "POST",
        "/sales/shifts/current/cash-movements",
        {"kind": "pay_in", "amount": 10000, "reason": "잔돈 보충"},
    ),
    Example("sale", "GET", "/sales/shifts/current"),
    Example("sale", "POST", "/sales/shifts/current/close", {"counted_cash": 60000}),
    Example("sale", "GET", "/sales/shifts/{shift_id}", owner_status=200),
    Example("sale", "GET", "/sales/shifts/settings", owner_status=200),
    Example("sale", "PUT", "/sales/shifts/settings", {"require_open_shift": False}, 200),
    Example("dashboard", "GET", "/dashboard/sales?start={today}&end={today}", owner_status=200),
    Example("dashboard", "GET", "/dashboard/volumes?start={today}&end={today}", owner_status=200),
    Example("dashboard", "GET", "/dashboard/summary?start={today}&end={today}", owner_status=200),
    Example("dashboard", "GET", "/dashboard/costs", owner_status=200),
    Example(
        "dashboard",
        "POST",
        "/dashboard/costs",
        {"items": [{"item_id": "{kept_item_id}", "cost": 1200}]},
        200,
    ),
    Example("dashboard", "GET", "/dashboard/calculate?date={today}", owner_status=200),
    Example("dashboard", "GET", "/dashboard/consulting/{req_id}", owner_status=200),
    Example("dashboard", "GET", "/dashboard/consulting/test/{req_id}", owner_status=200),
    Example("bff", "GET", "/bff/sales?start={today}&end={today}", owner_status=200),
    Example("bff", "GET", "/bff/volumes?start={today}&end={today}", owner_status=200),
    Example("bff", "GET", "/bff/summary?start={today}&end={today}", owner_status=200),
    Example("bff", "GET", "/bff/costs", owner_status=200),
    Example(
        "bff", "POST", "/bff/costs", {"items": [{"item_id": "{kept_item_id}", "cost": 1300}]}, 200
    ),
    Example("consulting", "GET", "/consulting/?start={today}&end={today}", owner_status=200),
    Example("consulting", "POST", "/consulting/", {"start": "{today}", "end": "{today}"}, 200),
    Example("consulting", "GET", "/consulting/test?start={today}&end={today}", owner_status=200),
    Example("consulting", "GET", "/consulting/{req_id}", owner_status=200),
    Example("consulting", "GET", "/consulting/test/{req_id}", owner_status=200),
)


@pytest.fixture(scope="module")
def stack(service_app, serve) -> dict[str, Flask]:
    ports = {name: free_port() for name in SERVICES}
    urls = {f"{name}_service_url": f"http://127.0.0.1:{port}" for name, port in ports.items()}
    apps: dict[str, Flask] = {}
    for name in SERVICES:
        apps[name] = service_app(f"{name}_service", rate_limits_enabled=False, **urls)
        serve(apps[name], ports[name])
    apps["bff"] = service_app("bff", rate_limits_enabled=False, **urls)
    return apps


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.get_json()
    return response.get_json()


@pytest.fixture(scope="module")
def world(stack) -> dict[str, Any]:
    """A store with a staff member, a menu, an open table (5), a paid sale (table 6) and a
    consulting request."""
    store = stack["store"].test_client()
    signup = _ok(
        store.post(
            "/stores/",
            json={
                "username": f"perm-{uuid.uuid4().hex[:12]}",
                "password": "secret-pw",
                "owner_name": "김사장",
                "phone": "01012345678",
                "store_name": "권한 가게",
                "address": "서울",
                "store_type": "카페",
            },
        ),
        201,
    )
    owner = auth_headers(signup["token"]["access_token"])
    member = _ok(
        store.post(
            "/stores/staff",
            json={"name": "김알바", "role": "cashier", "pin": MEMBER_PIN},
            headers=owner,
        ),
        201,
    )
    items = stack["item"].test_client()
    doomed = _ok(items.post("/categories/", json={"name": "지울 카테고리"}, headers=owner), 201)
    doomed_item = _ok(
        items.post(
            f"/categories/{doomed['id']}/items",
            json={"name": "지울 품목", "price": 900},
            headers=owner,
        ),
        201,
    )
    doomed_group = _ok(
        items.post(
            f"/categories/items/{doomed_item['id']}/option-groups",
            json={
                "name": "지울 옵션",
                "min_select": 0,
                "max_select": 1,
                "options": [{"name": "곱빼기", "price_delta": 1000}],
            },
            headers=owner,
        ),
        201,
    )
    kept = _ok(items.post("/categories/", json={"name": "메뉴"}, headers=owner), 201)
    kept_item = _ok(
        items.post(
            f"/categories/{kept['id']}/items",
            json={"name": "아메리카노", "price": 3000},
            headers=owner,
        ),
        201,
    )
    orders = stack["order"].test_client()
    opened: dict[int, int] = {}
    for table, quantity in ((5, 2), (6, 1), (8, 3)):
        body = {"table_no": table, "carts": [{"item_id": kept_item["id"], "quantity": quantity}]}
        opened[table] = _ok(orders.post("/orders/", json=body, headers=owner))["order_id"]
    doomed_discount = _ok(
        orders.post(
            f"/orders/{opened[8]}/discounts",
            json={"scope": "order", "kind": "amount", "value": 50, "reason": "지울 할인"},
            headers=owner,
        ),
        201,
    )["discounts"][0]
    paid = _ok(
        stack["sale"]
        .test_client()
        .post(
            "/sales/",
            json={"table_no": 6, "payment_type": "현금", "total_price": 3000},
            headers=owner,
        ),
        201,
    )
    [sale] = _ok(stack["sale"].test_client().get("/sales/", headers=owner))["sales"]
    receipt = _ok(
        stack["order"].test_client().get(f"/orders/{sale['order_id']}/receipt", headers=owner)
    )
    # a shift the staff member opened and closed (a cashier reads only its own)
    member_token = staff_token_for(signup["store_id"], "cashier", staff_id=member["staff_id"])
    sales = stack["sale"].test_client()
    shift = _ok(
        sales.post(
            "/sales/shifts", json={"opening_float": 30000}, headers=auth_headers(member_token)
        ),
        201,
    )
    _ok(
        sales.post(
            "/sales/shifts/current/close",
            json={"counted_cash": 30000},
            headers=auth_headers(member_token),
        )
    )
    today = datetime.now(ZoneInfo("Asia/Seoul")).date().isoformat()
    asked = (
        stack["consulting"]
        .test_client()
        .get(f"/consulting/?start={today}&end={today}", headers=owner)
    )
    return {
        "owner": owner,
        "req_id": _ok(asked)["req_id"],
        "store_id": signup["store_id"],
        "staff_id": member["staff_id"],
        "category_id": doomed["id"],
        "item_id": doomed_item["id"],
        "group_id": doomed_group["group_id"],
        "kept_item_id": kept_item["id"],
        "sale_id": paid["id"],
        "paid_order_id": sale["order_id"],
        "receipt_no": receipt["receipt_no"],
        "shift_id": shift["shift_id"],
        "today": today,
        "open_order_id": opened[8],
        "discount_id": doomed_discount["discount_id"],
    }


def _fill(value: Any, world: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {key: _fill(item, world) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, world) for item in value]
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return world[value[1:-1]]  # an id keeps its type (int)
    if isinstance(value, str):
        return value.format(**world)
    return value


def _call(app: Flask, example: Example, world: dict[str, Any], headers: dict[str, str]) -> Any:
    client = app.test_client()
    body = _fill(example.body, world) if example.body is not None else None
    return client.open(
        example.path.format(**world), method=example.method, json=body, headers=headers
    )


# any ids will do to find the rule an example calls
PLACEHOLDERS: dict[str, Any] = dict.fromkeys(
    (
        "store_id",
        "staff_id",
        "category_id",
        "item_id",
        "group_id",
        "sale_id",
        "paid_order_id",
        "open_order_id",
        "discount_id",
        "shift_id",
    ),
    1,
)
PLACEHOLDERS["receipt_no"] = "20261201-0001"
PLACEHOLDERS["req_id"] = "0" * 32


def _rule(app: Flask, example: Example) -> Any:
    path = example.path.split("?")[0].format(**PLACEHOLDERS)
    rule, _ = app.url_map.bind("localhost").match(path, method=example.method, return_rule=True)
    return rule


def _spec(app: Flask, example: Example) -> EndpointSpec:
    spec = endpoint_spec(app.view_functions[_rule(app, example).endpoint])
    assert spec is not None
    return spec


def _store_endpoints(app: Flask) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        spec = endpoint_spec(app.view_functions.get(rule.endpoint))
        if spec is not None and spec.auth == "store":
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                found.add((method, rule.rule))
    return found


def _digest(stack: dict[str, Flask]) -> dict[str, list[str]]:
    """Every row of every table of every service (what "nothing changed" is checked against)."""
    rows: dict[str, list[str]] = {}
    for name in SERVICES:
        app = stack[name]
        db = app.extensions["salesync"].db
        with app.app_context(), db.engine.connect() as conn:
            for table in db.metadata.sorted_tables:
                rows[f"{name}.{table.name}"] = sorted(
                    repr(tuple(r)) for r in conn.execute(select(table))
                )
    return rows


def test_every_store_endpoint_declares_a_permission(stack):
    undeclared = [
        f"{name}: {method} {rule}"
        for name, app in stack.items()
        for method, rule in sorted(_store_endpoints(app))
        if _spec_of_rule(app, method, rule).permission is None
    ]
    assert undeclared == [], "declare endpoint(..., permission=...) on these"


def _spec_of_rule(app: Flask, method: str, rule_text: str) -> EndpointSpec:
    for rule in app.url_map.iter_rules():
        if rule.rule == rule_text and method in (rule.methods or set()):
            spec = endpoint_spec(app.view_functions[rule.endpoint])
            assert spec is not None
            return spec
    raise AssertionError(rule_text)


def test_every_store_endpoint_has_an_example(stack):
    for name, app in stack.items():
        declared = _store_endpoints(app)
        covered = {
            (example.method, _rule(app, example).rule)
            for example in EXAMPLES
            if example.service == name
        }
        assert declared - covered == set(), f"{name}: add an example to EXAMPLES for these"
        assert covered <= declared, f"{name}: examples of endpoints that are not store endpoints"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"{e.service}:{e.id}")
def test_each_role_gets_exactly_its_permissions(stack, world, example, role):
    app = stack[example.service]
    spec = _spec(app, example)
    identity = StoreIdentity(store_id=world["store_id"], role=role, staff_id=world["staff_id"])
    headers = auth_headers(staff_token_for(world["store_id"], role, staff_id=world["staff_id"]))
    if permissions.allows(identity, spec.permission):
        response = _call(app, example, world, headers)
        assert response.status_code != 403, response.get_json()
        return
    before = _digest(stack)
    response = _call(app, example, world, headers)
    assert response.status_code == 403, response.get_json()
    assert response.get_json()["error"]["code"] == "forbidden"
    assert response.get_json()["permission"] == spec.permission
    assert _digest(stack) == before


def test_the_owner_token_still_does_everything(stack, world):
    """After all the staff calls, the owner replays every example and is refused none."""
    for example in EXAMPLES:
        response = _call(stack[example.service], example, world, world["owner"])
        assert response.status_code != 403 and response.status_code < 500, (
            example.id,
            response.get_json(),
        )
        if example.owner_status is not None:
            assert response.status_code == example.owner_status, (example.id, response.get_json())


def test_the_documented_matrix_is_the_code(stack):
    """docs/permissions.md lists every store endpoint with the permission it declares."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "permissions.md").read_text()
    table = doc.split("## Endpoints", 1)[1].split("###", 1)[0]
    documented = {
        (method, path.strip("`"), permission.strip("`"))
        for method, path, permission in re.findall(
            r"^\| (GET|POST|PUT|DELETE) \| (`[^`]+`) \| (`[^`]+`) \|$", table, re.MULTILINE
        )
    }
    declared = {
        (method, re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"<\1>", rule), spec.permission)
        for app in stack.values()
        for method, rule in _store_endpoints(app)
        for spec in [_spec_of_rule(app, method, rule)]
    }
    assert documented == declared
    for permission in permissions.PERMISSIONS:
        row = re.search(rf"^\| `{permission}` \|[^|]*\|(.*)\|$", doc, re.MULTILINE)
        assert row is not None, permission
        marks = [cell.strip() == "✓" for cell in row.group(1).split("|")]
        assert marks == [
            role in permissions.roles_with(permission) for role in ("owner", "manager", "cashier")
        ], permission
