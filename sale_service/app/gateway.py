"""The order and store gateways of a request (tests put fakes in ``app.extensions``)."""

from __future__ import annotations

from flask import current_app

from salesync_common.app import runtime

from . import services

GATEWAY_EXTENSION = "sale.order_gateway"
STORE_GATEWAY_EXTENSION = "sale.store_gateway"


def order_gateway() -> services.OrderGateway:
    override = current_app.extensions.get(GATEWAY_EXTENSION)
    if override is not None:
        return override
    return services.OrderClient(runtime().client("order"))


def store_gateway() -> services.StoreGateway:
    override = current_app.extensions.get(STORE_GATEWAY_EXTENSION)
    if override is not None:
        return override
    return services.StoreClient(runtime().client("store"))
