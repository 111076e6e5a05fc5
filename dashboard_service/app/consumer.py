"""The long-lived consumer of ``consulting.results``: stores each result once, by ``req_id``.

Kafka (consumer group ``dashboard-consulting-results``) in distributed runs; the in-process bus in
the embedded mode. The handler commits its database write before returning, and the subscriber
commits the Kafka offset only after that: at-least-once delivery, exactly one stored row.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Engine

from salesync_common.bus import Event, in_process_bus
from salesync_common.kafka import KafkaRecord, KafkaSubscriber, kafka_client_config

from ..config import Settings
from . import services

log = logging.getLogger(__name__)


class ResultHandler:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def handle_value(self, value: Mapping[str, Any]) -> bool:
        event = services.parse_result_event(value)
        if event is None:
            return False  # malformed: skipped (and committed) rather than retried forever
        with self._engine.begin() as conn:  # committed before the offset is
            stored = services.store_result(conn, event)
        log.info("consulting result %s %s", event.status, "stored" if stored else "duplicate")
        return stored

    def __call__(self, record: KafkaRecord | Event) -> None:
        self.handle_value(record.value)


def start_consumer(settings: Settings, engine: Engine, stop: threading.Event) -> None:
    """Run until ``stop`` is set (called in a background thread started with the app)."""
    handler = ResultHandler(engine)
    kafka = kafka_client_config(settings)
    if kafka is not None:
        KafkaSubscriber(
            kafka,
            settings.consulting_results_group,
            [settings.consulting_results_topic],
            handler,
            client_id=f"{settings.service_name}-consulting-results",
        ).run_forever(stop)
    else:
        in_process_bus().subscribe(settings.consulting_results_topic, handler)
