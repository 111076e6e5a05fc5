"""Fixtures shared by the sale service's tests.

- ``app``/``client``/``orders``: the sale app on the test database with the order and store
  gateways replaced by in-memory fakes (``fakes.py``); ``store``: a store id no other sale test
  uses.
- ``stack``: the real store, item, order and sale services served on local ports (PostgreSQL),
  each pointed at the others: payments against a real order (``served.py`` has the helpers).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from devstack.testing import free_port, new_store_id
from sale_service.app.clients import GATEWAY_EXTENSION, STORE_GATEWAY_EXTENSION

from .fakes import FakeOrders, FakeStores


@pytest.fixture(scope="module")
def app(service_app):
    return service_app("sale_service")


@pytest.fixture()
def orders(app):
    fake = FakeOrders()
    app.extensions[GATEWAY_EXTENSION] = fake
    app.extensions[STORE_GATEWAY_EXTENSION] = FakeStores()
    yield fake
    app.extensions.pop(GATEWAY_EXTENSION, None)
    app.extensions.pop(STORE_GATEWAY_EXTENSION, None)


@pytest.fixture()
def store():
    return new_store_id()


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def stack(service_app, serve):
    store = serve(service_app("store_service"))
    item = serve(service_app("item_service"))
    sale_port = free_port()  # the order service calls the sale service back (receipts)
    order_app = service_app(
        "order_service",
        item_service_url=item.url,
        sale_service_url=f"http://127.0.0.1:{sale_port}",
    )
    order = serve(order_app)
    sale_app = service_app("sale_service", order_service_url=order.url, store_service_url=store.url)
    sale = serve(sale_app, sale_port)
    return SimpleNamespace(
        item=item, order=order, sale=sale, sale_app=sale_app, order_app=order_app
    )
