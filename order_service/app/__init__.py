"""Order service: open orders per table, lines with name/price/cost snapshots, payments.

Background work started with the app: the consumer of ``menu.items`` that keeps the read model
of the menu (``menu.py``), and the relay that publishes ``order_events`` on ``orders.events``.

Two entry points share this package and image: :func:`create_app` (the order API) and
:func:`create_stream_app` (``app.sh stream``: only ``GET /orders/stream``, in its own process so
hundreds of open streams never take a thread of the API). ``make run`` serves the stream from the
API app itself (one process, woken by its own commits).
"""

from __future__ import annotations

from flask import Flask

from salesync_common.app import create_service_app
from salesync_common.events import start_outbox_relay

from ..config import SCHEMA, Settings
from . import events, menu
from .api import internal, orders, receipts, tables
from .api import stream as stream_api
from .models import IdempotencyKeys, db
from .stream import EventTail

STREAM_SERVICE_NAME = "order-stream"


def _attach_tail(app: Flask, settings: Settings) -> None:
    """The process's one reader of ``order_events`` (started by its first stream)."""
    service_runtime = app.extensions["salesync"]
    with app.app_context():
        engine = db.engine
    tail = EventTail(engine, settings.stream_poll_seconds, service_runtime.stop)
    tail.wake_after_commits(db.session)
    app.extensions["order_event_tail"] = tail
    app.extensions["order_engine"] = engine


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    app = create_service_app(
        "order",
        settings,
        title="Salesync order service",
        description="Open orders per table, order lines with snapshots, payments, audit events.",
        blueprints=[orders.bp, stream_api.bp, internal.bp, receipts.bp, tables.bp],
        db=db,
        schema=SCHEMA,
        idempotency_table=IdempotencyKeys,
    )
    service_runtime = app.extensions["salesync"]
    with app.app_context():
        engine = db.engine
    # One consumer per process (a consumer group member), never per request.
    service_runtime.start_background(
        lambda stop: menu.run_consumer(settings, engine, stop), "menu-items-consumer"
    )
    # every order write adds events and their reader (the sale's repair, which itself lets the
    # broker gather up to 1 s) can wait: gather 250 ms of commits per publish, so a busy service
    # runs a few relay transactions a second, not one per write. The live table status reads
    # order_events itself, not the topic.
    start_outbox_relay(
        app,
        db,
        events.source(settings.orders_events_topic),
        "order-events-relay",
        gather_seconds=0.25,
    )
    _attach_tail(app, settings)
    return app


def create_stream_app(settings: Settings | None = None) -> Flask:
    """The stream process: ``GET /orders/stream`` only; no consumer, no relay, no writes."""
    settings = settings or Settings()
    app = create_service_app(
        STREAM_SERVICE_NAME,
        settings,
        title="Salesync order stream",
        description="Live table status: the store's order events as Server-Sent Events.",
        blueprints=[stream_api.bp],
        db=db,
        schema=SCHEMA,
    )
    _attach_tail(app, settings)
    return app
