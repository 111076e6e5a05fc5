"""KafkaSubscriber: when it rebuilds its consumer (a new group member), and when not.

A consumer whose empty polls busy-loop is rebuilt; one whose caught-up check goes unanswered
once under load is kept (rebuilding would rebalance the group), three times in a row rebuilt."""

from __future__ import annotations

import threading
import time
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError

from salesync_common.kafka import CONFIRM_TIMEOUTS, KafkaClientConfig, KafkaSubscriber

PARTITION = TopicPartition("topic", 0)


class FakeConsumer:
    """Answers no records; ``spin`` makes each poll run on the CPU for its whole timeout (what
    a stuck kafka-python member does), else it sleeps like a healthy one."""

    def __init__(self, spin: bool = False, unanswered_checks: int = 0) -> None:
        self.spin = spin
        self.unanswered_checks = unanswered_checks  # end_offsets calls that time out first
        self.checks = 0
        self.closed = False

    def poll(self, timeout_ms: int) -> dict[Any, Any]:
        deadline = time.monotonic() + timeout_ms / 1000
        if not self.spin:
            time.sleep(timeout_ms / 1000)
        while time.monotonic() < deadline:
            pass
        return {}

    def assignment(self) -> set[Any]:
        return {PARTITION}

    def highwater(self, tp: TopicPartition) -> int | None:
        return None

    def end_offsets(self, partitions: list[TopicPartition], timeout_ms: int) -> dict[Any, int]:
        self.checks += 1
        if self.checks <= self.unanswered_checks:
            raise KafkaTimeoutError("Failed to get offsets by timestamps")
        return dict.fromkeys(partitions, 0)

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    def position(self, tp: TopicPartition, timeout_ms: int) -> int:
        return 0

    def close(self, **_: Any) -> None:
        self.closed = True


def run_with(
    consumers: list[FakeConsumer], seconds: float, confirmed: list[Any] | None = None
) -> list[FakeConsumer]:
    """Run a subscriber for ``seconds``; its consumers come from ``consumers`` in turn."""
    built: list[FakeConsumer] = []
    confirmed = [] if confirmed is None else confirmed
    subscriber = KafkaSubscriber(
        KafkaClientConfig(bootstrap_servers=("127.0.0.1:9",)),
        "group",
        ["topic"],
        lambda record: None,
        client_id="test",
        poll_timeout_ms=100,
        retry_backoff_s=0.01,
        on_caught_up=confirmed.append,
        caught_up_interval_s=0.01,
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


def test_a_caught_up_check_left_unanswered_once_keeps_the_consumer() -> None:
    slow_once = FakeConsumer(unanswered_checks=CONFIRM_TIMEOUTS - 1)
    confirmed: list[Any] = []
    assert run_with([slow_once], seconds=1.0, confirmed=confirmed) == [slow_once]
    assert confirmed  # confirmed again once the broker answered


def test_caught_up_checks_left_unanswered_in_a_row_rebuild_the_consumer() -> None:
    silent, healthy = FakeConsumer(unanswered_checks=10**6), FakeConsumer()
    confirmed: list[Any] = []
    built = run_with([silent, healthy], seconds=1.0, confirmed=confirmed)
    assert built == [silent, healthy] and silent.closed
    assert silent.checks == CONFIRM_TIMEOUTS
    assert confirmed and all(update.partitions for update in confirmed)
