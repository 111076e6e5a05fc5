"""KafkaSubscriber rebuilds a consumer whose empty polls busy-loop instead of waiting."""

from __future__ import annotations

import threading
import time
from typing import Any

from salesync_common.kafka import KafkaClientConfig, KafkaSubscriber


class FakeConsumer:
    """Answers no records; ``spin`` makes each poll run on the CPU for its whole timeout (what
    a stuck kafka-python member does), else it sleeps like a healthy one."""

    def __init__(self, spin: bool) -> None:
        self.spin = spin
        self.closed = False

    def poll(self, timeout_ms: int) -> dict[Any, Any]:
        deadline = time.monotonic() + timeout_ms / 1000
        if not self.spin:
            time.sleep(timeout_ms / 1000)
        while time.monotonic() < deadline:
            pass
        return {}

    def assignment(self) -> set[Any]:
        return set()

    def close(self, **_: Any) -> None:
        self.closed = True


def run_with(consumers: list[FakeConsumer], seconds: float) -> list[FakeConsumer]:
    """Run a subscriber for ``seconds``; its consumers come from ``consumers`` in turn."""
    built: list[FakeConsumer] = []
    subscriber = KafkaSubscriber(
        KafkaClientConfig(bootstrap_servers=("127.0.0.1:9",)),
        "group",
        ["topic"],
        lambda record: None,
        client_id="test",
        poll_timeout_ms=100,
        retry_backoff_s=0.01,
    )

    def connect() -> FakeConsumer:
        consumer = consumers[min(len(built), len(consumers) - 1)]
        built.append(consumer)
        return consumer

    subscriber._connect = connect  # type: ignore[method-assign,assignment]
    stop = threading.Event()
    thread = threading.Thread(target=subscriber.run_forever, args=(stop,), daemon=True)
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join(timeout=5)
    return built


def test_a_consumer_whose_empty_polls_spin_is_rebuilt() -> None:
    spinning, healthy = FakeConsumer(spin=True), FakeConsumer(spin=False)
    built = run_with([spinning, healthy], seconds=1.5)
    # four spinning polls (0.4 s), then a new consumer that waits properly and is kept
    assert built[0] is spinning and spinning.closed
    assert built[1:] == [healthy]


def test_a_consumer_that_waits_in_its_polls_is_kept() -> None:
    healthy = FakeConsumer(spin=False)
    assert run_with([healthy], seconds=1.0) == [healthy]
