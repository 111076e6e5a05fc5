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

Every client -- these two, :func:`wait_for_broker`, the topic tool
(:mod:`salesync_common.kafka_topics`), the devstack and the tests -- is built from one
:class:`KafkaClientConfig`, made from the settings by :func:`kafka_client_config`: bootstrap
servers, security protocol (``PLAINTEXT``, ``SSL``, ``SASL_SSL``), CA file and SCRAM credentials.

The subscriber keeps the consumer metrics up to date: ``salesync_events_consumed_total`` per
outcome, ``salesync_consumer_records_behind`` (records between the consumer's position and the
high watermark) and ``salesync_consumer_lag_seconds`` (how old the record the consumer is at is
while it is behind; 0 once caught up, growing while a record keeps failing).

No ``api_version`` is pinned: the client negotiates with the broker (Kafka 4.x dropped the old
protocol versions that a pinned legacy ``api_version`` would select).
"""

from __future__ import annotations

import functools
import json
import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError, KafkaTimeoutError
from kafka.structs import OffsetAndMetadata

from salesync_common.bus import BatchOutcome, Event
from salesync_common.metrics import CONSUMER_LAG, CONSUMER_RECORDS_BEHIND, EVENTS_CONSUMED
from salesync_common.settings import KafkaSettings
from salesync_common.timeutil import utcnow

log = logging.getLogger(__name__)
METADATA_MAX_AGE_MS = 5000
# How long the broker holds a fetch that finds nothing, for a consumer that never asks the broker
# anything else between polls: a record still arrives at once (the fetch ends with its first
# byte), but an idle member costs the broker and itself a round trip every 2 s instead of every
# 0.5 s (the client's default, kept for consumers that confirm they are caught up: that check
# waits behind the fetch).
IDLE_FETCH_WAIT_MS = 2000

__all__ = [
    "CaughtUp",
    "KafkaClientConfig",
    "KafkaPublisher",
    "KafkaRecord",
    "KafkaSubscriber",
    "PublishError",
    "describe_connection_problem",
    "kafka_client_config",
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


@dataclass(frozen=True, slots=True)
class KafkaClientConfig:
    """Where Kafka is and how to authenticate: what every Kafka client here is built with.

    Made by :func:`kafka_client_config` from validated settings, so ``SSL``/``SASL_SSL`` always
    carry a CA file and ``SASL_SSL`` always carries SCRAM credentials. The password never shows in
    ``repr`` (and so in no log line).
    """

    bootstrap_servers: tuple[str, ...]
    security_protocol: str = "PLAINTEXT"
    ssl_cafile: str | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return ",".join(self.bootstrap_servers)

    def kwargs(self) -> dict[str, Any]:
        """Connection keyword arguments for any kafka-python client (producer, consumer, admin)."""
        config: dict[str, Any] = {
            "bootstrap_servers": list(self.bootstrap_servers),
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            # The broker certificate is verified against the CA, host name included.
            config["ssl_cafile"] = self.ssl_cafile
            config["ssl_check_hostname"] = True
        if self.security_protocol == "SASL_SSL":
            config["sasl_mechanism"] = self.sasl_mechanism
            config["sasl_plain_username"] = self.sasl_username
            config["sasl_plain_password"] = self.sasl_password
        return config


def kafka_client_config(settings: KafkaSettings) -> KafkaClientConfig | None:
    """The one place a Kafka client configuration is made from settings (None: no broker is
    configured, the in-process bus is used)."""
    if not settings.kafka_bootstrap_servers:
        return None
    servers = tuple(s.strip() for s in settings.kafka_bootstrap_servers.split(",") if s.strip())
    protocol = settings.kafka_security_protocol
    sasl = protocol == "SASL_SSL"
    password = settings.kafka_sasl_password
    return KafkaClientConfig(
        bootstrap_servers=servers,
        security_protocol=protocol,
        ssl_cafile=settings.kafka_ssl_cafile if protocol in ("SSL", "SASL_SSL") else None,
        sasl_mechanism=settings.kafka_sasl_mechanism if sasl else None,
        sasl_username=settings.kafka_sasl_username if sasl else None,
        sasl_password=password.get_secret_value() if sasl and password else None,
    )


def _require_config(config: object) -> KafkaClientConfig:
    if not isinstance(config, KafkaClientConfig):
        raise TypeError(
            "Kafka clients take a KafkaClientConfig (kafka_client_config(settings)), "
            f"not {type(config).__name__}: a bare bootstrap address would skip TLS and SASL"
        )
    return config


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


def _probe_transport(config: KafkaClientConfig, timeout_s: float) -> str | None:
    """What TCP and TLS alone say about the first bootstrap server that accepts a connection:
    a reason when the protocols cannot match (or nothing listens), None when they can."""
    reason = None
    tls = config.security_protocol in ("SSL", "SASL_SSL")
    for server in config.bootstrap_servers:
        host, _, port = server.rpartition(":")
        try:
            sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        except (OSError, ValueError) as exc:
            reason = f"cannot connect to {server}: {exc}"
            continue
        if tls:
            context = ssl.create_default_context(cafile=config.ssl_cafile)
        else:  # only to recognise a TLS listener; nothing is sent over this connection
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            with context.wrap_socket(sock, server_hostname=host):
                pass
        except ssl.SSLCertVerificationError as exc:
            return (
                f"the TLS certificate of {server} is not trusted with "
                f"KAFKA_SSL_CAFILE={config.ssl_cafile} ({exc.verify_message})"
            )
        except OSError as exc:  # ssl.SSLError included: the peer does not speak TLS
            return f"{server} does not speak TLS ({exc}): a PLAINTEXT listener?" if tls else None
        finally:
            sock.close()
        if not tls:
            return (
                f"{server} is a TLS listener: KAFKA_SECURITY_PROTOCOL=PLAINTEXT cannot talk to it "
                "(use SASL_SSL or SSL with KAFKA_SSL_CAFILE)"
            )
        return None
    return reason


def _frame(api_key: int, version: int, correlation_id: int, body: bytes) -> bytes:
    """A request frame: size, header v1 (api key, version, correlation id, client id), body."""
    client_id = b"salesync-login-check"
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client_id)) + client_id
    return struct.pack(">i", len(header) + len(body)) + header + body


def _read_frame(sock: ssl.SSLSocket) -> bytes:
    """One response body (after its correlation id); EOF raises ConnectionError."""

    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            data += chunk
        return data

    (size,) = struct.unpack(">i", exactly(4))
    return exactly(size)[4:]


def _check_login(config: KafkaClientConfig, timeout_s: float) -> str | None:
    """Log in once with SASL/SCRAM over TLS, reading each answer before the broker can close the
    connection (kafka-python often reports a refused login as a bare disconnect).

    Returns the broker's refusal, or None when the login succeeds or cannot be attempted.
    """
    from kafka.net.sasl.scram import ScramClient

    host, _, port = config.bootstrap_servers[0].rpartition(":")
    context = ssl.create_default_context(cafile=config.ssl_cafile)
    mechanism = (config.sasl_mechanism or "").encode()
    scram = ScramClient(config.sasl_username or "", config.sasl_password or "", mechanism.decode())
    with (
        socket.create_connection((host, int(port)), timeout=timeout_s) as raw,
        context.wrap_socket(raw, server_hostname=host) as sock,
    ):
        # SaslHandshake v1 (api key 17): error code, then the enabled mechanisms.
        sock.sendall(_frame(17, 1, 1, struct.pack(">h", len(mechanism)) + mechanism))
        (error,) = struct.unpack(">h", _read_frame(sock)[:2])
        if error:
            return f"the broker does not accept SASL mechanism {mechanism.decode()} (error {error})"
        token = scram.first_message()
        for step, correlation_id in (("first", 2), ("final", 3)):
            # SaslAuthenticate v1 (api key 36): error code, error message, server bytes.
            sock.sendall(_frame(36, 1, correlation_id, struct.pack(">i", len(token)) + token))
            body = _read_frame(sock)
            (error, message_len) = struct.unpack(">hh", body[:4])
            if error:
                message = body[4 : 4 + message_len].decode() if message_len > 0 else ""
                return message or f"error {error}"
            (data_len,) = struct.unpack(
                ">i", body[4 + max(message_len, 0) : 8 + max(message_len, 0)]
            )
            data = body[8 + max(message_len, 0) : 8 + max(message_len, 0) + data_len]
            if step == "first":
                scram.process_server_first_message(data)
                token = scram.final_message()
    return None


def describe_connection_problem(config: KafkaClientConfig, timeout_s: float = 1.5) -> str:
    """One line saying why a client with ``config`` cannot use the cluster, for error messages:
    nothing listening, TLS spoken on one side only, an untrusted certificate, a refused login.
    Bounded by a few times ``timeout_s``; never raises."""
    try:
        reason = _probe_transport(config, timeout_s)
        if reason:
            return reason
        if config.security_protocol == "SASL_SSL":
            refusal = _check_login(config, timeout_s)
            if refusal:
                return (
                    f"Kafka refused the {config.sasl_mechanism} login of user "
                    f"{config.sasl_username!r} ({refusal})"
                )
    except Exception:  # a diagnosis must never raise; fall through to the generic reason
        log.debug("connection diagnosis failed", exc_info=True)
    return f"no Kafka broker answered at {config.bootstrap} in time"


# --------------------------------------------------------------------------- publisher


class KafkaPublisher:
    """Synchronous, acknowledged JSON publishing. Thread-safe; one instance per process."""

    def __init__(
        self,
        config: KafkaClientConfig,
        client_id: str,
        *,
        request_timeout_ms: int = 5000,
        delivery_timeout_s: float = 10.0,
    ) -> None:
        self._config = _require_config(config)
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
            **self._config.kwargs(),
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
            reason = _describe(exc)
            if producer is not None:
                self._discard_producer(producer)
            elif isinstance(exc, KafkaError):
                # No producer could even bootstrap: say why (TLS mismatch, refused login, ...).
                reason = f"{reason}: {describe_connection_problem(self._config)}"
            log.warning(
                "publish to %s failed after %.1fs: %s",
                topic,
                self._delivery_timeout_s - (deadline - time.monotonic()),
                reason,
            )
            raise PublishError(f"publish to {topic!r} failed: {reason}") from exc
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
            reason = _describe(exc)
            if producer is not None:
                self._discard_producer(producer)
            elif isinstance(exc, KafkaError):
                # No producer could even bootstrap: say why (TLS mismatch, refused login, ...).
                reason = f"{reason}: {describe_connection_problem(self._config)}"
            log.warning("publishing %d records failed after %d: %s", len(events), done, reason)
            return BatchOutcome(done, PublishError(f"publish failed: {reason}"))
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


# An empty poll that spends this share of its time on the CPU is busy-looping, not waiting;
# this many in a row and the subscriber rebuilds its consumer (KafkaSubscriber._check_idle_poll).
SPIN_CPU_SHARE = 0.3
SPIN_POLLS = 4
# Caught-up checks in a row the broker may leave unanswered before the consumer is rebuilt.
CONFIRM_TIMEOUTS = 3


class ConsumerSpinning(KafkaError):
    """The consumer's poll loops without waiting (see ``KafkaSubscriber._check_idle_poll``)."""


class KafkaSubscriber:
    """At-least-once consumer-group loop around a per-record handler.

    Offsets are committed only after ``handler`` returned. If it raises, nothing is committed,
    the partition is rewound to the failed record and retried after an increasing backoff
    (other partitions keep flowing). Broker outages are ridden out by recreating the consumer.
    """

    def __init__(
        self,
        config: KafkaClientConfig,
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
        batch_wait_ms: int = 0,
        prepare: Callable[[list[KafkaRecord]], None] | None = None,
    ) -> None:
        """``batch_wait_ms`` > 0: a consumer for which a delay is fine (a repair, not a read
        model) lets the broker gather up to that long, so it fetches and commits offsets a few
        times a second instead of once per record. ``prepare`` sees each fetched batch of a
        partition before its records are handled one by one (e.g. to read in one query what the
        handler would read per record); it is a hint: if it fails, the records are handled."""
        if not topics:
            raise ValueError("topics must not be empty")
        self._config = _require_config(config)
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
        # Timestamp (ms) of the record each partition is at: the failing one, else the last one
        # handled (the next one is not fetched yet and is at most that much younger).
        self._position_ts: dict[TopicPartition, int] = {}
        self._on_caught_up = on_caught_up
        self._caught_up_interval_s = caught_up_interval_s
        self._last_confirmation = 0.0
        self._batch_wait_ms = batch_wait_ms
        self._prepare = prepare
        self._spinning_polls = 0  # empty polls in a row that ran on the CPU (_check_idle_poll)
        self._confirm_timeouts = 0  # caught-up checks in a row the broker did not answer in time

    # -- consumer lifecycle ---------------------------------------------------

    def _connect(self) -> KafkaConsumer:
        consumer = _Consumer(
            **self._config.kwargs(),
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
            # A topic created after the consumer subscribed (the producer's first event, on a new
            # cluster) is seen at the next metadata refresh: every 5 s, not the client's 5 min.
            metadata_max_age_ms=METADATA_MAX_AGE_MS,
            **self._fetch_options(),
        )
        consumer.subscribe(self._topics)
        return consumer

    def _fetch_options(self) -> dict[str, int]:
        if self._batch_wait_ms:
            return {"fetch_max_wait_ms": self._batch_wait_ms, "fetch_min_bytes": 256 * 1024}
        if self._on_caught_up is None:
            return {"fetch_max_wait_ms": IDLE_FETCH_WAIT_MS}
        return {}

    def _disconnect(self) -> None:
        consumer, self._consumer = self._consumer, None
        self._position_ts.clear()
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
        decoded = [(raw, self._decode(raw)) for raw in records]
        if self._prepare is not None:
            try:
                self._prepare([record for _, record in decoded if record is not None])
            except Exception:  # a hint only: the handler still decides each record
                log.warning("subscriber %s: batch preparation failed", self._client_id)
        for raw, record in decoded:
            if raw.timestamp is not None and raw.timestamp >= 0:
                self._position_ts[tp] = raw.timestamp
            if record is None:
                EVENTS_CONSUMED.labels(tp.topic, "skipped").inc()
            else:
                try:
                    self._handler(record)
                except Exception:  # any handler bug must not kill the loop
                    EVENTS_CONSUMED.labels(tp.topic, "failed").inc()
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
                EVENTS_CONSUMED.labels(tp.topic, "handled").inc()
            self._failures.pop((tp, raw.offset), None)
            self._pending[tp] = OffsetAndMetadata(raw.offset + 1, "", raw.leader_epoch)
        return 0.0

    # -- metrics ---------------------------------------------------------------

    def _observe_lag(self, consumer: KafkaConsumer) -> None:
        """Set the records-behind and lag-seconds gauges for this process's partitions.

        Records behind = high watermark - position, per partition, summed per topic; lag seconds
        = now - timestamp of the record the consumer is at, for partitions that are behind (the
        largest per topic), 0 when every partition is caught up. Partitions without a fetch yet
        (no known high watermark) count as caught up until their first fetch. No network call.
        """
        behind = dict.fromkeys(self._topics, 0)
        lag = dict.fromkeys(self._topics, 0.0)
        now_ms = time.time() * 1000
        assigned = consumer.assignment()
        for tp in assigned:
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            # Non-blocking: the position is known once the partition has been fetched from.
            position = consumer.position(tp, timeout_ms=0)
            if position is None or position >= highwater:
                continue
            behind[tp.topic] = behind.get(tp.topic, 0) + highwater - position
            timestamp = self._position_ts.get(tp)
            if timestamp is not None:
                lag[tp.topic] = max(lag.get(tp.topic, 0.0), max(now_ms - timestamp, 0.0) / 1000)
        for tp in list(self._position_ts):
            if tp not in assigned:  # revoked: its new owner reports it
                del self._position_ts[tp]
        for topic in behind:
            CONSUMER_RECORDS_BEHIND.labels(self._group_id, topic).set(behind[topic])
            CONSUMER_LAG.labels(self._group_id, topic).set(lag[topic])

    # -- freshness ---------------------------------------------------------------

    def _confirm_caught_up(self, consumer: KafkaConsumer) -> None:
        """Every ``caught_up_interval_s``: report the assigned partitions handled to their end.

        Runs on the polling thread right after a batch was handled, so a position here is a
        position of handled records. When the broker does not answer in time nothing is
        confirmed, so readers stop trusting what this consumer feeds; after
        ``CONFIRM_TIMEOUTS`` such answers in a row it raises (and the loop reconnects). One slow
        answer under load is not an outage: rebuilding the consumer for it would rebalance the
        whole group.
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
        try:
            ends = consumer.end_offsets(list(assigned), timeout_ms=timeout_ms)
        except KafkaTimeoutError:
            self._confirm_timeouts += 1
            if self._confirm_timeouts >= CONFIRM_TIMEOUTS:
                self._confirm_timeouts = 0
                raise
            self._last_confirmation = now
            return
        self._confirm_timeouts = 0
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

    def _check_idle_poll(self, cpu_s: float, wall_s: float) -> None:
        """Raise :class:`ConsumerSpinning` when empty polls keep running on the CPU.

        An empty poll normally sleeps in the network wait for its whole timeout. kafka-python
        3.0.12 can leave a member with its heartbeat overdue (seen with two members on a
        one-partition topic): its poll then loops without waiting and burns a core for as long
        as the timeout, every time. The loop rebuilds the consumer (a new member) instead.
        """
        if wall_s >= self._poll_timeout_ms / 2000 and cpu_s >= SPIN_CPU_SHARE * wall_s:
            self._spinning_polls += 1
        else:
            self._spinning_polls = 0
        if self._spinning_polls >= SPIN_POLLS:
            self._spinning_polls = 0
            raise ConsumerSpinning(
                f"{SPIN_POLLS} empty polls in a row each used over {SPIN_CPU_SHARE:.0%} of "
                "their time on the CPU"
            )

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
                                "subscriber %s cannot reach Kafka (%s: %s); retrying",
                                self._client_id,
                                _describe(exc),
                                describe_connection_problem(self._config),
                            )
                        stop_event.wait(min(self._retry_backoff_s * connect_failures, 5.0))
                        continue
                consumer = self._consumer
                try:
                    self._flush_commits(consumer)
                    cpu_started, wall_started = time.thread_time(), time.monotonic()
                    batches = consumer.poll(timeout_ms=self._poll_timeout_ms)
                    if not batches:
                        self._check_idle_poll(
                            time.thread_time() - cpu_started, time.monotonic() - wall_started
                        )
                    backoff = 0.0
                    for tp, records in batches.items():
                        if stop_event.is_set():
                            break
                        backoff = max(backoff, self._handle_partition(consumer, tp, records))
                    # Commit right after handling, before any backoff sleep.
                    self._flush_commits(consumer)
                    try:
                        self._observe_lag(consumer)
                    except Exception:  # metrics must never break the consumer
                        log.debug("consumer lag unavailable", exc_info=True)
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


def wait_for_broker(config: KafkaClientConfig, timeout_s: float) -> bool:
    """True once an (authenticated) metadata request succeeds, False after ``timeout_s``."""
    _require_config(config)
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        consumer: KafkaConsumer | None = None
        try:
            consumer = _Consumer(
                **config.kwargs(),
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
                close = functools.partial(consumer.close, autocommit=False, timeout_ms=1000)
                _close_quietly(close, "consumer")
