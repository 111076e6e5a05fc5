"""Shared Kafka wrapper for every Salesync service (kafka-python 3.x).

Two building blocks, both with JSON values and string headers:

* :class:`KafkaPublisher` -- used by the outbox relay. ``publish()`` blocks until Kafka has
  acknowledged the record (``acks=all``, idempotent producer) and raises :class:`PublishError`
  otherwise, so a row is only marked *sent* after a real acknowledgement. A failed publish never
  hangs longer than about ``delivery_timeout_s`` and the next call starts with a fresh producer,
  so the relay recovers by itself once the broker is back.
* :class:`KafkaSubscriber` -- a long-lived consumer in a consumer group with at-least-once
  delivery: offsets are committed only after the handler returned. A handler that raises gets
  the same record again after a backoff; malformed JSON is logged and skipped. Handlers must
  therefore be idempotent (deduplicate on an event id).

No ``api_version`` is pinned: the client negotiates with the broker (Kafka 4.x dropped the old
protocol versions that a pinned legacy ``api_version`` would select).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from salesync_common.bus import BatchOutcome, Event
from salesync_common.timeutil import utcnow

log = logging.getLogger(__name__)

__all__ = [
    "CaughtUp",
    "KafkaPublisher",
    "KafkaRecord",
    "KafkaSubscriber",
    "PublishError",
    "wait_for_broker",
]


class PublishError(Exception):
    """The record was not acknowledged by Kafka (broker down, timeout, rejected, bad value)."""


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """One consumed record, already decoded."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    timestamp_ms: int | None = None


def _servers(bootstrap_servers: str) -> list[str]:
    return [s.strip() for s in bootstrap_servers.split(",") if s.strip()]


def _describe(exc: BaseException) -> str:
    # kafka-python's errors already start with their class name; don't repeat it.
    text = str(exc)
    name = type(exc).__name__
    return text if text.startswith(name) else f"{name}: {text}"


def _close_quietly(closer: Callable[[], object], what: str) -> None:
    try:
        closer()
    except Exception:  # best effort cleanup must never mask the real error
        log.debug("ignoring error while closing %s", what, exc_info=True)


class _Consumer(KafkaConsumer):
    """KafkaConsumer that cleans up after a failed constructor.

    kafka-python 3.0.12 starts the consumer's IO thread before bootstrapping; when bootstrap
    times out (broker down) __init__ raises and that thread leaks. A subscriber retrying
    through a long outage would pile up one thread per attempt.
    """

    def __init__(self, *topics: str, **configs: Any) -> None:
        try:
            super().__init__(*topics, **configs)
        except BaseException:
            client = getattr(self, "_client", None)
            if client is not None:
                _close_quietly(client.close, "half-built consumer")
            raise


# --------------------------------------------------------------------------- publisher


class KafkaPublisher:
    """Synchronous, acknowledged JSON publishing. Thread-safe; one instance per process."""

    def __init__(
        self,
        bootstrap_servers: str,
        client_id: str,
        *,
        request_timeout_ms: int = 5000,
        delivery_timeout_s: float = 10.0,
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._client_id = client_id
        self._request_timeout_ms = request_timeout_ms
        self._delivery_timeout_s = delivery_timeout_s
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _make_producer(self) -> KafkaProducer:
        linger_ms = 5
        timeout_ms = int(self._delivery_timeout_s * 1000)
        return KafkaProducer(
            bootstrap_servers=_servers(self._bootstrap_servers),
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            # Short linger: a relay publishes one row at a time and waits for it.
            linger_ms=linger_ms,
            request_timeout_ms=self._request_timeout_ms,
            # kafka-python requires delivery >= linger + request timeout.
            delivery_timeout_ms=max(timeout_ms, linger_ms + self._request_timeout_ms),
            # Each of these bounds one blocking step, so a dead broker fails fast instead of
            # the library defaults (30 s bootstrap, 60 s metadata, 2 min delivery).
            bootstrap_timeout_ms=timeout_ms,
            max_block_ms=timeout_ms,
            # Reconnect promptly once the broker is back (library default backs off to 30 s).
            reconnect_backoff_max_ms=1000,
        )

    def _get_producer(self) -> KafkaProducer:
        with self._lock:
            if self._closed:
                raise PublishError("publisher is closed")
            if self._producer is None:
                self._producer = self._make_producer()
            return self._producer

    def _discard_producer(self, producer: KafkaProducer) -> None:
        """Drop a producer after a failure so the next publish starts from a clean client."""
        with self._lock:
            if self._producer is producer:
                self._producer = None
        # close() flushes, i.e. waits until pending batches are acknowledged or expire (bounded
        # by delivery_timeout_ms). Do that off the caller's thread so publish() stays bounded.
        threading.Thread(
            target=_close_quietly,
            args=(lambda: producer.close(timeout=self._delivery_timeout_s + 5), "producer"),
            name=f"kafka-publisher-close-{self._client_id}",
            daemon=True,
        ).start()

    def publish(
        self,
        topic: str,
        key: str,
        value: dict[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send one record and wait for Kafka's acknowledgement.

        Raises PublishError on any failure; the record may still have been written in rare
        timeout cases (at-least-once), so consumers deduplicate.
        """
        try:
            payload = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            header_list = [(k, v.encode("utf-8")) for k, v in (headers or {}).items()]
            key_bytes = key.encode("utf-8")
        except (TypeError, ValueError, AttributeError) as exc:
            raise PublishError(f"cannot serialise record for topic {topic!r}: {exc}") from exc

        deadline = time.monotonic() + self._delivery_timeout_s
        producer: KafkaProducer | None = None
        try:
            producer = self._get_producer()
            future = producer.send(topic, value=payload, key=key_bytes, headers=header_list)
            metadata = future.get(timeout=max(deadline - time.monotonic(), 0.1))
        except PublishError:
            raise
        except (KafkaError, OSError, ValueError, TypeError) as exc:
            if producer is not None:
                self._discard_producer(producer)
            log.warning(
                "publish to %s failed after %.1fs: %s",
                topic,
                self._delivery_timeout_s - (deadline - time.monotonic()),
                _describe(exc),
            )
            raise PublishError(f"publish to {topic!r} failed: {_describe(exc)}") from exc
        log.debug("published to %s[%d]@%d", metadata.topic, metadata.partition, metadata.offset)

    def publish_many(self, events: Sequence[Event]) -> BatchOutcome:
        """Send every record, then wait for the acknowledgements: one wait for the whole batch.

        The idempotent producer keeps each partition's records in send order, so the records
        acknowledged before the first failure are a durable prefix of ``events``.
        """
        deadline = time.monotonic() + self._delivery_timeout_s
        producer: KafkaProducer | None = None
        futures = []
        try:
            producer = self._get_producer()
            for sent in events:
                payload = json.dumps(sent.value, ensure_ascii=False, separators=(",", ":"))
                futures.append(
                    producer.send(
                        sent.topic,
                        value=payload.encode("utf-8"),
                        key=sent.key.encode("utf-8"),
                        headers=[(k, v.encode("utf-8")) for k, v in sent.headers.items()],
                    )
                )
            producer.flush(timeout=max(deadline - time.monotonic(), 0.1))
            for future in futures:
                future.get(timeout=max(deadline - time.monotonic(), 0.1))
        except PublishError as exc:
            return BatchOutcome(0, exc)
        except (KafkaError, OSError, ValueError, TypeError, AttributeError) as exc:
            done = sum(1 for _ in _acknowledged_prefix(futures))
            if producer is not None:
                self._discard_producer(producer)
            log.warning(
                "publishing %d records failed after %d: %s", len(events), done, _describe(exc)
            )
            return BatchOutcome(done, PublishError(f"publish failed: {_describe(exc)}"))
        return BatchOutcome(len(events))

    def close(self) -> None:
        """Flush and close the producer (bounded by the delivery timeout)."""
        with self._lock:
            producer, self._producer = self._producer, None
            self._closed = True
        if producer is not None:
            _close_quietly(lambda: producer.close(timeout=self._delivery_timeout_s), "producer")


def _acknowledged_prefix(futures: Sequence[Any]) -> Any:
    for future in futures:
        if not future.is_done or future.failed():
            return
        yield future


# --------------------------------------------------------------------------- subscriber


@dataclass(frozen=True, slots=True)
class CaughtUp:
    """Partitions this member had fully handled (position >= end offset) at ``confirmed_at``.

    ``end_offsets`` is a real broker round trip, so a confirmation proves the broker answered:
    every record acknowledged before ``confirmed_at`` has been handled. ``partitions`` is the
    topic's partition count, so a reader can tell when a partition has no confirmation at all.
    """

    topic: str
    partitions: int
    caught_up: tuple[int, ...]
    confirmed_at: datetime


class KafkaSubscriber:
    """At-least-once consumer-group loop around a per-record handler.

    Offsets are committed only after ``handler`` returned. If it raises, nothing is committed,
    the partition is rewound to the failed record and retried after an increasing backoff
    (other partitions keep flowing). Broker outages are ridden out by recreating the consumer.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        topics: list[str],
        handler: Callable[[KafkaRecord], None],
        *,
        client_id: str,
        poll_timeout_ms: int = 500,
        max_poll_records: int = 100,
        session_timeout_ms: int = 10000,
        retry_backoff_s: float = 0.5,
        max_retry_backoff_s: float = 30.0,
        on_caught_up: Callable[[CaughtUp], None] | None = None,
        caught_up_interval_s: float = 0.25,
    ) -> None:
        if not topics:
            raise ValueError("topics must not be empty")
        self._bootstrap_servers = bootstrap_servers
        self._group_id = group_id
        self._topics = list(topics)
        self._handler = handler
        self._client_id = client_id
        self._poll_timeout_ms = poll_timeout_ms
        self._max_poll_records = max_poll_records
        self._session_timeout_ms = session_timeout_ms
        self._retry_backoff_s = retry_backoff_s
        self._max_retry_backoff_s = max_retry_backoff_s
        self._consumer: KafkaConsumer | None = None
        # Offsets whose records were handled but whose commit has not gone through yet.
        self._pending: dict[TopicPartition, OffsetAndMetadata] = {}
        # (tp, offset) -> consecutive failures, to back off and keep the log quiet.
        self._failures: dict[tuple[TopicPartition, int], int] = {}
        self._on_caught_up = on_caught_up
        self._caught_up_interval_s = caught_up_interval_s
        self._last_confirmation = 0.0

    # -- consumer lifecycle ---------------------------------------------------

    def _connect(self) -> KafkaConsumer:
        consumer = _Consumer(
            bootstrap_servers=_servers(self._bootstrap_servers),
            group_id=self._group_id,
            client_id=self._client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._max_poll_records,
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(self._session_timeout_ms // 3, 1000),
            bootstrap_timeout_ms=10000,
            request_timeout_ms=15000,
            reconnect_backoff_max_ms=1000,
        )
        consumer.subscribe(self._topics)
        return consumer

    def _disconnect(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            _close_quietly(lambda: consumer.close(autocommit=False, timeout_ms=5000), "consumer")

    # -- offsets ---------------------------------------------------------------

    def _flush_commits(self, consumer: KafkaConsumer) -> None:
        if not self._pending:
            return
        offsets = dict(self._pending)
        try:
            consumer.commit(offsets=offsets, timeout_ms=5000)
        except CommitFailedError as exc:
            # The group rebalanced: the partition's new owner re-reads from the last commit.
            log.warning(
                "offset commit rejected after rebalance (%s); records will be redelivered", exc
            )
        except KafkaError as exc:
            # Keep them pending; retried on the next loop iteration (at-least-once either way).
            log.warning("offset commit failed (%s); will retry", _describe(exc))
            return
        for tp, om in offsets.items():
            if self._pending.get(tp) == om:
                del self._pending[tp]

    # -- record handling -------------------------------------------------------

    def _decode(self, raw: Any) -> KafkaRecord | None:
        try:
            value = json.loads(raw.value.decode("utf-8")) if raw.value is not None else None
        except (UnicodeDecodeError, ValueError):
            value = None
        if not isinstance(value, dict):
            # Never log the body: it may carry customer data.
            log.warning(
                "skipping malformed record %s[%d]@%d (value is not a JSON object)",
                raw.topic,
                raw.partition,
                raw.offset,
            )
            return None
        return KafkaRecord(
            topic=raw.topic,
            partition=raw.partition,
            offset=raw.offset,
            key=raw.key.decode("utf-8", errors="replace") if raw.key is not None else None,
            value=value,
            headers={k: (v or b"").decode("utf-8", errors="replace") for k, v in raw.headers or []},
            timestamp_ms=raw.timestamp,
        )

    def _handle_partition(
        self, consumer: KafkaConsumer, tp: TopicPartition, records: list[Any]
    ) -> float:
        """Process one partition's batch in order; returns the backoff to apply (0 = none)."""
        for raw in records:
            record = self._decode(raw)
            if record is not None:
                try:
                    self._handler(record)
                except Exception:  # any handler bug must not kill the loop
                    attempt = self._failures.get((tp, raw.offset), 0) + 1
                    # Remember only the current failing offset per partition.
                    self._failures = {k: v for k, v in self._failures.items() if k[0] != tp}
                    self._failures[(tp, raw.offset)] = attempt
                    # Full traceback on the first failure, then only at attempts 2, 4, 8, ...
                    if attempt == 1:
                        log.exception(
                            "handler failed for %s[%d]@%d; will retry",
                            tp.topic,
                            tp.partition,
                            raw.offset,
                        )
                    elif attempt & (attempt - 1) == 0:
                        log.warning(
                            "handler still failing for %s[%d]@%d (attempt %d)",
                            tp.topic,
                            tp.partition,
                            raw.offset,
                            attempt,
                        )
                    # Rewind so the next poll returns this record again; later records in the
                    # batch are dropped here and refetched after it.
                    try:
                        consumer.seek(tp, raw.offset)
                    except ValueError:
                        # Partition revoked meanwhile: its new owner resumes from the last commit.
                        log.info("partition %s[%d] no longer assigned", tp.topic, tp.partition)
                    return min(
                        self._retry_backoff_s * 2 ** (attempt - 1), self._max_retry_backoff_s
                    )
            self._failures.pop((tp, raw.offset), None)
            self._pending[tp] = OffsetAndMetadata(raw.offset + 1, "", raw.leader_epoch)
        return 0.0

    # -- freshness ---------------------------------------------------------------

    def _confirm_caught_up(self, consumer: KafkaConsumer) -> None:
        """Every ``caught_up_interval_s``: report the assigned partitions handled to their end.

        Runs on the polling thread right after a batch was handled, so a position here is a
        position of handled records. Raises (and the loop reconnects) when the broker does not
        answer: then nothing is confirmed and readers stop trusting what this consumer feeds.
        """
        if self._on_caught_up is None:
            return
        now = time.monotonic()
        if now - self._last_confirmation < self._caught_up_interval_s:
            return
        assigned = consumer.assignment() or set()
        if not assigned:
            return
        timeout_ms = max(int(self._caught_up_interval_s * 4000), 1000)
        # Taken before the request: the end offsets answered include every record acknowledged
        # by then, so this is the moment the confirmation vouches for.
        confirmed_at = utcnow()
        ends = consumer.end_offsets(list(assigned), timeout_ms=timeout_ms)
        self._last_confirmation = now
        for topic in {tp.topic for tp in assigned}:
            partitions = consumer.partitions_for_topic(topic) or set()
            caught_up = tuple(
                sorted(
                    tp.partition
                    for tp in assigned
                    if tp.topic == topic
                    and ends.get(tp) is not None
                    and (consumer.position(tp, timeout_ms=timeout_ms) or 0) >= ends[tp]
                )
            )
            if not caught_up:
                continue
            try:
                self._on_caught_up(CaughtUp(topic, len(partitions), caught_up, confirmed_at))
            except Exception as exc:  # e.g. the database is down: simply not confirmed
                log.warning("could not record that %s is caught up: %s", topic, exc)

    # -- main loop -------------------------------------------------------------

    def run_forever(self, stop_event: threading.Event) -> None:
        """Poll and dispatch until ``stop_event`` is set; never raises on broker trouble."""
        connect_failures = 0
        log.info(
            "subscriber %s starting (group=%s topics=%s)",
            self._client_id,
            self._group_id,
            self._topics,
        )
        try:
            while not stop_event.is_set():
                if self._consumer is None:
                    try:
                        self._consumer = self._connect()
                        if connect_failures:
                            log.info("subscriber %s reconnected", self._client_id)
                        connect_failures = 0
                    except (KafkaError, OSError) as exc:
                        connect_failures += 1
                        if connect_failures == 1 or connect_failures % 10 == 0:
                            log.warning(
                                "subscriber %s cannot reach Kafka (%s); retrying",
                                self._client_id,
                                exc,
                            )
                        stop_event.wait(min(self._retry_backoff_s * connect_failures, 5.0))
                        continue
                consumer = self._consumer
                try:
                    self._flush_commits(consumer)
                    batches = consumer.poll(timeout_ms=self._poll_timeout_ms)
                    backoff = 0.0
                    for tp, records in batches.items():
                        if stop_event.is_set():
                            break
                        backoff = max(backoff, self._handle_partition(consumer, tp, records))
                    # Commit right after handling, before any backoff sleep.
                    self._flush_commits(consumer)
                    if not backoff:
                        self._confirm_caught_up(consumer)
                    if backoff:
                        stop_event.wait(backoff)
                except Exception as exc:
                    # Kafka/network errors, but also anything unexpected inside the client:
                    # rebuild the consumer rather than let the service's consumer thread die.
                    log.warning(
                        "subscriber %s lost its consumer (%s); reconnecting",
                        self._client_id,
                        _describe(exc),
                        exc_info=not isinstance(exc, KafkaError | OSError),
                    )
                    self._pending.clear()  # the new member re-reads from the last commit
                    self._disconnect()
                    stop_event.wait(self._retry_backoff_s)
        finally:
            if self._consumer is not None:
                self._flush_commits(self._consumer)
            self._disconnect()
            log.info("subscriber %s stopped", self._client_id)

    def start_in_thread(self, stop_event: threading.Event) -> threading.Thread:
        """Run :meth:`run_forever` in a daemon thread (set ``stop_event`` and join to stop)."""
        thread = threading.Thread(
            target=self.run_forever,
            args=(stop_event,),
            name=f"kafka-subscriber-{self._group_id}",
            daemon=True,
        )
        thread.start()
        return thread


# --------------------------------------------------------------------------- helpers


def wait_for_broker(bootstrap: str, timeout_s: float) -> bool:
    """True once a metadata request to ``bootstrap`` succeeds, False after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        consumer: KafkaConsumer | None = None
        try:
            consumer = _Consumer(
                bootstrap_servers=_servers(bootstrap),
                client_id="salesync-wait-for-broker",
                bootstrap_timeout_ms=max(int(min(remaining, 5.0) * 1000), 100),
                # Bounds the metadata request too (must exceed fetch_max_wait_ms=500).
                request_timeout_ms=max(int(min(remaining, 5.0) * 1000), 1000),
            )
            consumer.topics()
            return True
        except (KafkaError, OSError):
            time.sleep(min(0.5, max(deadline - time.monotonic(), 0)))
        finally:
            if consumer is not None:
                _close_quietly(
                    lambda c=consumer: c.close(autocommit=False, timeout_ms=1000), "consumer"
                )
