"""The event transport seen by producers and consumers: Kafka, or an in-process bus.

Distributed runs (tests, benchmarks, production) use Kafka. The embedded mode (``make run``) runs
every service in one process without a broker; there the in-process bus stands in, with the same
publish/subscribe shape and the same asynchronous delivery.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from salesync_common.metrics import EVENTS_CONSUMED

log = logging.getLogger(__name__)


@dataclass
class Event:
    topic: str
    key: str
    value: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Event], None]


class Publisher(Protocol):
    def publish(
        self, topic: str, key: str, value: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None: ...


class InProcessBus:
    """Asynchronous at-least-once delivery inside one process (handler errors are retried)."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._queue: queue.Queue[Event] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def publish(
        self, topic: str, key: str, value: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self._queue.put(Event(topic, key, value, dict(headers or {})))
        self._ensure_thread()

    def subscribe(self, topic: str, handler: Handler) -> None:
        with self._lock:
            self._handlers[topic].append(handler)
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._deliver, name="inprocess-bus", daemon=True
                )
                self._thread.start()

    def _deliver(self) -> None:
        while True:
            event = self._queue.get()
            for handler in list(self._handlers.get(event.topic, [])):
                for attempt in range(5):
                    try:
                        handler(event)
                        EVENTS_CONSUMED.labels(event.topic, "handled").inc()
                        break
                    except Exception:
                        EVENTS_CONSUMED.labels(event.topic, "failed").inc()
                        log.exception("in-process handler failed (attempt %d)", attempt + 1)
                        threading.Event().wait(0.2 * (attempt + 1))


_bus = InProcessBus()


def in_process_bus() -> InProcessBus:
    return _bus
