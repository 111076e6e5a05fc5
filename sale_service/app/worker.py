"""The order gateway of a request and the background recovery pass."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from flask import Flask, current_app

from salesync_common.app import ServiceRuntime, runtime

from . import services
from .models import db

log = logging.getLogger(__name__)

GATEWAY_EXTENSION = "sale.order_gateway"  # tests put a fake order gateway here


def order_gateway() -> services.OrderGateway:
    override = current_app.extensions.get(GATEWAY_EXTENSION)
    if override is not None:
        return override
    return services.OrderClient(runtime().client("order"))


def start_recovery(app: Flask) -> None:
    """Run the recovery pass at startup and then periodically (if background workers are on)."""
    service_runtime: ServiceRuntime = app.extensions["salesync"]
    settings = service_runtime.settings
    interval = float(getattr(settings, "recovery_interval_seconds", 30.0))
    min_age = timedelta(seconds=float(getattr(settings, "recovery_min_age_seconds", 60.0)))

    def loop(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                with app.app_context():
                    services.recover_pending(db.session, order_gateway(), older_than=min_age)
            except Exception as exc:  # the order service may be down: try again next round
                log.warning("sale recovery pass failed: %s", type(exc).__name__)
            stop.wait(interval)

    service_runtime.start_background(loop, "sale-recovery")
