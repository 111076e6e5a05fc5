"""The order gateway of a request (tests put a fake one in ``app.extensions``)."""

from __future__ import annotations

from flask import current_app

from salesync_common.app import runtime

from . import services

GATEWAY_EXTENSION = "sale.order_gateway"


def order_gateway() -> services.OrderGateway:
    override = current_app.extensions.get(GATEWAY_EXTENSION)
    if override is not None:
        return override
    return services.OrderClient(runtime().client("order"))
