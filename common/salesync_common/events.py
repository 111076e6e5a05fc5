"""Wiring of a service's event transport: Kafka in distributed runs, the in-process bus embedded.

``start_outbox_relay`` builds the publisher for the service's settings (the factory has already
added the Kafka readiness check), runs the relay in a background thread (when background workers
are on) and wakes it after each commit that wrote its outbox, so an event leaves within
milliseconds of its transaction.
"""

from __future__ import annotations

from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from salesync_common.app import ServiceRuntime
from salesync_common.bus import Publisher, in_process_bus
from salesync_common.kafka import KafkaPublisher, kafka_client_config
from salesync_common.outbox import OutboxRelay, OutboxSource
from salesync_common.settings import ServiceSettings


def publisher_for(settings: ServiceSettings, client_id: str) -> Publisher:
    kafka = kafka_client_config(settings)
    if kafka is not None:
        return KafkaPublisher(kafka, client_id=client_id)
    return in_process_bus()


def start_outbox_relay(
    app: Flask,
    db: SQLAlchemy,
    source: OutboxSource,
    name: str = "outbox-relay",
    gather_seconds: float = 0.0,
) -> OutboxRelay:
    """The relay of ``source`` for this app (kept in ``app.extensions[name]``).

    ``gather_seconds``: see :class:`OutboxRelay` (for a busy outbox whose readers can wait).
    """
    service_runtime: ServiceRuntime = app.extensions["salesync"]
    settings = service_runtime.settings
    with app.app_context():
        engine = db.engine
    relay = OutboxRelay(
        lambda: engine,
        source,
        publisher_for(settings, f"{settings.service_name}-{name}"),
        gather_seconds=gather_seconds,
    )
    relay.wake_after_commits(db.session)
    app.extensions[name] = relay
    service_runtime.start_background(relay.run_forever, name)
    return relay
