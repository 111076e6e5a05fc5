"""Helpers for tests against the served services (the ``stack`` fixture of ``conftest.py``)."""

from __future__ import annotations

import requests

from devstack.testing import auth_headers, token_for
from salesync_common.auth import SERVICE_TOKEN_HEADER


def h(store_id):
    return auth_headers(token_for(store_id))


def service_headers(stack):
    return {SERVICE_TOKEN_HEADER: stack.sale_app.extensions["salesync"].tokens.token()}


def menu_item(stack, store_id, price):
    category = requests.post(
        f"{stack.item.url}/categories/", json={"name": "메뉴"}, headers=h(store_id), timeout=10
    )
    assert category.status_code == 201, category.text
    item = requests.post(
        f"{stack.item.url}/categories/{category.json()['id']}/items",
        json={"name": "김밥", "price": str(price)},
        headers=h(store_id),
        timeout=10,
    )
    assert item.status_code == 201, item.text
    return item.json()["id"]


def open_order(stack, store_id, table_no, item_id, quantity):
    response = requests.post(
        f"{stack.order.url}/orders/",
        json={"table_no": table_no, "carts": [{"item_id": item_id, "quantity": quantity}]},
        headers=h(store_id),
        timeout=10,
    )
    assert response.status_code == 200 and response.json()["result"] == "success", response.text
    return response.json()["order_id"]


def order_state(stack, store_id, order_id):
    response = requests.get(
        f"{stack.order.url}/internal/stores/{store_id}/orders/{order_id}",
        headers=service_headers(stack),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()
