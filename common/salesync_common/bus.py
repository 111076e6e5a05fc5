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
from collections.abc import Callable, Sequence
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


@dataclass(frozen=True)
class BatchOutcome:
    """What became of a batch: the first ``acknowledged`` events are durable; ``error`` stopped
    the rest (they may or may not have been written: at least once, consumers deduplicate)."""

    acknowledged: int
    error: Exception | None = None


class Publisher(Protocol):
    def publish(
        self, topic: str, key: str, value: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None: ...

    def publish_many(self, events: Sequence[Event]) -> BatchOutcome:
        """Send every event, then wait for the acknowledgements (one wait for the batch)."""
        ...


class InProcessBus:
    """Asynchronous at-least-once delivery inside one process (handler errors are retried).

    ``caught_up(topic)`` is the embedded stand-in for a Kafka consumer's "position >= end offset":
    true when every event published on the topic so far has been handed to its handlers.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._queue: queue.Queue[Event] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending: dict[str, int] = defaultdict(int)
        # Events of a topic nobody subscribed to yet (a producer that started first): kept for
        # the first subscriber, as a Kafka topic keeps them for a new consumer group.
        self._backlog: dict[str, list[Event]] = defaultdict(list)

    def publish(
        self, topic: str, key: str, value: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        with self._lock:
            self._pending[topic] += 1
        self._queue.put(Event(topic, key, value, dict(headers or {})))
        self._ensure_thread()

    def publish_many(self, events: Sequence[Event]) -> BatchOutcome:
        for event in events:
            self.publish(event.topic, event.key, event.value, event.headers)
        return BatchOutcome(len(events))

    def caught_up(self, topic: str) -> bool:
        with self._lock:
            return self._pending[topic] == 0

    def subscribe(self, topic: str, handler: Handler) -> None:
        with self._lock:
            self._handlers[topic].append(handler)
            backlog = self._backlog.pop(topic, [])
        for event in backlog:
            self._queue.put(event)
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
            with self._lock:
                handlers = list(self._handlers.get(event.topic, []))
                if not handlers:
                    self._backlog[event.topic].append(event)
                    continue
            for handler in handlers:
                for attempt in range(5):
                    try:
                        handler(event)
                        EVENTS_CONSUMED.labels(event.topic, "handled").inc()
                        break
                    except Exception:
                        EVENTS_CONSUMED.labels(event.topic, "failed").inc()
                        log.exception("in-process handler failed (attempt %d)", attempt + 1)
                        threading.Event().wait(0.2 * (attempt + 1))
            with self._lock:
                self._pending[event.topic] -= 1


_bus = InProcessBus()


def in_process_bus() -> InProcessBus:
    return _bus
