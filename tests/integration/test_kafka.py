"""salesync_common.kafka against a real Apache Kafka broker (devstack.kafka, KRaft, no Docker).

Every client connects the way the services do on MSK: SASL_SSL, SCRAM-SHA-512, the broker
certificate checked against the devstack CA, one user per service (``admin`` for the tests' own
tools). The broker is started once per session unless one is already running (``kafka_broker``
in devstack.testing); a broker that cannot start fails the run: these tests are never skipped.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# salesync_common lives in common/ and is not necessarily pip-installed in the test venv.
for _p in (ROOT, ROOT / "common"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from prometheus_client import REGISTRY  # noqa: E402

from devstack import kafka as devstack_kafka  # noqa: E402
from salesync_common.kafka import (  # noqa: E402
    KafkaClientConfig,
    KafkaPublisher,
    KafkaRecord,
    KafkaSubscriber,
    PublishError,
    wait_for_broker,
)

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


@pytest.fixture(scope="session")
def kafka_admin(kafka_broker: str) -> KafkaClientConfig:
    """The test tools' own client configuration (user ``admin``), SASL_SSL."""
    config = devstack_kafka.client_config(devstack_kafka.ADMIN_USER, kafka_broker)
    assert config.security_protocol == "SASL_SSL" and config.sasl_mechanism == "SCRAM-SHA-512"
    return config


def _name(prefix: str) -> str:
    return f"test.{prefix}.{uuid.uuid4().hex[:10]}"


class Collector:
    """Handler that records what it got; fails once for each key in ``fail_once``."""

    def __init__(self, fail_once: set[str] | None = None) -> None:
        self.records: list[KafkaRecord] = []
        self.calls: list[int] = []  # offsets in delivery order, failed attempts included
        self.fail_once = set(fail_once or ())
        self._cond = threading.Condition()

    def __call__(self, record: KafkaRecord) -> None:
        with self._cond:
            self.calls.append(record.offset)
            if record.key in self.fail_once:
                self.fail_once.discard(record.key)
                raise RuntimeError("simulated handler failure")
            self.records.append(record)
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float = 30.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.records), timeout=timeout)


class Running:
    """A KafkaSubscriber running in its thread for the duration of a with-block."""

    def __init__(self, boot: KafkaClientConfig, group: str, topic: str, handler: Collector) -> None:
        self.subscriber = KafkaSubscriber(
            boot, group, [topic], handler, client_id=f"{group}-client", retry_backoff_s=0.2
        )
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> Running:
        self.thread = self.subscriber.start_in_thread(self.stop)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(timeout=20)
        assert not self.thread.is_alive(), "subscriber thread did not stop"


def _committed(boot: KafkaClientConfig, group: str, topic: str) -> int | None:
    consumer = KafkaConsumer(**boot.kwargs(), group_id=group, enable_auto_commit=False)
    try:
        return consumer.committed(TopicPartition(topic, 0), timeout_ms=10000)
    finally:
        consumer.close(autocommit=False)


def test_wait_for_broker(kafka_admin: KafkaClientConfig) -> None:
    assert wait_for_broker(kafka_admin, 10.0)
    t0 = time.monotonic()
    assert not wait_for_broker(
        dataclasses.replace(kafka_admin, bootstrap_servers=("127.0.0.1:1",)), 1.5
    )
    assert time.monotonic() - t0 < 8


def test_publish_then_consume_in_group(kafka_admin: KafkaClientConfig) -> None:
    topic, group = _name("roundtrip"), _name("group")
    publisher = KafkaPublisher(kafka_admin, "test-publisher")
    value = {"order_id": 42, "item": "김밥", "amount": 3500, "lines": [{"sku": "A-1", "qty": 2}]}
    headers = {"event_type": "order.created", "trace_id": "t-123"}
    try:
        publisher.publish(topic, "store-7", value, headers=headers)
    finally:
        publisher.close()

    collector = Collector()
    with Running(kafka_admin, group, topic, collector):
        assert collector.wait_for(lambda recs: len(recs) >= 1), "record not consumed in 30 s"

    [record] = collector.records
    assert record.topic == topic
    assert (record.partition, record.offset) == (0, 0)
    assert record.key == "store-7"
    assert record.value == value
    assert record.headers == headers
    assert _committed(kafka_admin, group, topic) == 1

    # Compact UTF-8 JSON on the wire (ensure_ascii=False, no spaces).
    raw = KafkaConsumer(topic, **kafka_admin.kwargs(), auto_offset_reset="earliest", group_id=None)
    try:
        polled = raw.poll(timeout_ms=10000)
        [msg] = [m for batch in polled.values() for m in batch]
        assert msg.value.decode("utf-8").startswith('{"order_id":42,"item":"김밥"')
    finally:
        raw.close()


def test_a_topic_created_after_the_subscription_is_consumed_within_seconds(
    kafka_admin: KafkaClientConfig,
) -> None:
    """A consumer that starts before its topic exists (a new cluster: the producer's first event
    creates it) picks the topic up at its next metadata refresh, not minutes later."""
    topic, group = _name("late-topic"), _name("group")
    collector = Collector()
    with Running(kafka_admin, group, topic, collector):
        time.sleep(2)  # subscribed, and told the topic does not exist
        publisher = KafkaPublisher(kafka_admin, "test-late-topic")
        try:
            publisher.publish(topic, "store-1", {"first": True})
        finally:
            publisher.close()
        # the client's default refresh (5 min) would miss this by minutes
        assert collector.wait_for(lambda recs: len(recs) >= 1, timeout=30), "not consumed"
    assert collector.records[0].value == {"first": True}


def test_commit_only_after_handler_succeeded(kafka_admin: KafkaClientConfig) -> None:
    topic, group = _name("retry"), _name("group")
    publisher = KafkaPublisher(kafka_admin, "test-publisher-retry")
    try:
        for n in (1, 2, 3):
            publisher.publish(topic, f"k{n}", {"n": n})

        collector = Collector(fail_once={"k2"})
        with Running(kafka_admin, group, topic, collector):
            assert collector.wait_for(lambda recs: len(recs) >= 3), "records not (re)delivered"
            time.sleep(0.5)  # a duplicate delivery after success would show up here
        # k2 failed once and was delivered again; nothing was skipped or reordered.
        assert collector.calls == [0, 1, 1, 2]
        assert [(r.offset, r.value) for r in collector.records] == [
            (0, {"n": 1}),
            (1, {"n": 2}),
            (2, {"n": 3}),
        ]
        assert _committed(kafka_admin, group, topic) == 3

        # A new member of the same group gets only what was published afterwards.
        publisher.publish(topic, "k4", {"n": 4})
        second = Collector()
        with Running(kafka_admin, group, topic, second):
            assert second.wait_for(lambda recs: len(recs) >= 1)
            time.sleep(0.5)
        assert [(r.offset, r.key, r.value) for r in second.records] == [(3, "k4", {"n": 4})]
        assert _committed(kafka_admin, group, topic) == 4
    finally:
        publisher.close()


def test_malformed_json_is_skipped_and_committed(kafka_admin: KafkaClientConfig) -> None:
    topic, group = _name("malformed"), _name("group")
    producer = KafkaProducer(**kafka_admin.kwargs())
    try:
        producer.send(topic, key=b"bad", value=b"{not json").get(timeout=10)
        producer.send(topic, key=b"list", value=b"[1, 2]").get(timeout=10)
        producer.send(topic, key=b"good", value=b'{"ok": true}').get(timeout=10)
    finally:
        producer.close()

    collector = Collector()
    with Running(kafka_admin, group, topic, collector):
        assert collector.wait_for(lambda recs: len(recs) >= 1)
    assert [(r.offset, r.key, r.value) for r in collector.records] == [(2, "good", {"ok": True})]
    assert _committed(kafka_admin, group, topic) == 3


def test_publish_fails_fast_while_broker_down_and_recovers(
    kafka_admin: KafkaClientConfig,
) -> None:
    topic, group = _name("outage"), _name("group")
    timeout_s = 3.0
    publisher = KafkaPublisher(
        kafka_admin,
        "test-publisher-outage",
        request_timeout_ms=2000,
        delivery_timeout_s=timeout_s,
    )
    collector = Collector()
    try:
        publisher.publish(topic, "before", {"phase": "before"})
        with Running(kafka_admin, group, topic, collector):
            assert collector.wait_for(lambda recs: any(r.key == "before" for r in recs))

            devstack_kafka.stop()
            try:
                # 1) a warm producer (metadata cached): fails on the acknowledgement wait
                t0 = time.monotonic()
                with pytest.raises(PublishError):
                    publisher.publish(topic, "during-1", {"phase": "during"})
                assert time.monotonic() - t0 < timeout_s + 3
                # 2) a fresh producer (the failed one was discarded): fails on bootstrap
                t0 = time.monotonic()
                with pytest.raises(PublishError):
                    publisher.publish(topic, "during-2", {"phase": "during"})
                assert time.monotonic() - t0 < timeout_s + 3
            finally:
                boot_after = devstack_kafka.start(timeout=90)
            assert boot_after == kafka_admin.bootstrap  # same port: clients reconnect

            publisher.publish(topic, "after", {"phase": "after"})
            # The subscriber rode out the outage and sees the new record.
            assert collector.wait_for(lambda recs: any(r.key == "after" for r in recs), 60)
    finally:
        publisher.close()
        if not devstack_kafka.is_running():
            devstack_kafka.start(timeout=90)


# ---------------------------------------------------------------------------------------------
# Security: the client listener speaks SASL_SSL only and checks every login


def test_every_kafka_user_logs_in_over_sasl_ssl(kafka_admin: KafkaClientConfig) -> None:
    for user in devstack_kafka.users():
        config = devstack_kafka.client_config(user, kafka_admin.bootstrap)
        assert config.ssl_cafile == str(devstack_kafka.ca_file())
        assert wait_for_broker(config, 10.0), user


def test_plaintext_to_the_tls_listener_fails_fast_with_a_clear_error(
    kafka_admin: KafkaClientConfig,
) -> None:
    plaintext = KafkaClientConfig(bootstrap_servers=kafka_admin.bootstrap_servers)
    publisher = KafkaPublisher(plaintext, "test-plaintext", delivery_timeout_s=3.0)
    t0 = time.monotonic()
    try:
        with pytest.raises(PublishError) as failure:
            publisher.publish(_name("plaintext"), "k", {"n": 1})
    finally:
        publisher.close()
    assert time.monotonic() - t0 < 10, "a bounded failure, not a hang"
    assert f"{kafka_admin.bootstrap} is a TLS listener" in str(failure.value)
    assert "KAFKA_SECURITY_PROTOCOL=PLAINTEXT" in str(failure.value)
    assert not wait_for_broker(plaintext, 2.0)


def test_a_wrong_password_or_an_unknown_user_is_refused(kafka_admin: KafkaClientConfig) -> None:
    dashboard = devstack_kafka.client_config("dashboard", kafka_admin.bootstrap)
    password = dashboard.sasl_password
    assert password
    for config in (
        dataclasses.replace(dashboard, sasl_password=password + "x"),
        dataclasses.replace(dashboard, sasl_username="intruder"),
    ):
        publisher = KafkaPublisher(config, "test-wrong-login", delivery_timeout_s=3.0)
        t0 = time.monotonic()
        try:
            with pytest.raises(PublishError) as failure:
                publisher.publish(_name("refused"), "k", {"n": 1})
        finally:
            publisher.close()
        assert time.monotonic() - t0 < 10
        assert f"Kafka refused the SCRAM-SHA-512 login of user {config.sasl_username!r}" in str(
            failure.value
        )
        assert password not in str(failure.value)
        assert not wait_for_broker(config, 2.0)


def test_a_certificate_from_another_ca_is_not_trusted(
    kafka_admin: KafkaClientConfig, tmp_path: Path
) -> None:
    # The system bundle (what the images use for MSK) does not trust the devstack CA.
    other_ca = dataclasses.replace(kafka_admin, ssl_cafile="/etc/ssl/certs/ca-certificates.crt")
    publisher = KafkaPublisher(other_ca, "test-other-ca", delivery_timeout_s=3.0)
    try:
        with pytest.raises(PublishError, match="is not trusted with KAFKA_SSL_CAFILE"):
            publisher.publish(_name("ca"), "k", {"n": 1})
    finally:
        publisher.close()


def test_service_users_deliver_to_each_other(kafka_admin: KafkaClientConfig) -> None:
    """consulting publishes, dashboard consumes: each with its own SCRAM user."""
    topic, group = _name("users"), _name("group")
    consulting = devstack_kafka.client_config("consulting", kafka_admin.bootstrap)
    dashboard = devstack_kafka.client_config("dashboard", kafka_admin.bootstrap)
    publisher = KafkaPublisher(consulting, "test-consulting")
    try:
        publisher.publish(topic, "req-1", {"req_id": "req-1"})
    finally:
        publisher.close()
    collector = Collector()
    with Running(dashboard, group, topic, collector):
        assert collector.wait_for(lambda recs: len(recs) >= 1)
        time.sleep(0.5)
    assert [(r.key, r.value) for r in collector.records] == [("req-1", {"req_id": "req-1"})]


def test_a_user_added_later_is_created_without_wiping_the_broker(
    kafka_admin: KafkaClientConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Giving one more service Kafka access is one line in devstack.kafka.SERVICE_USERS."""
    user = f"svc-{uuid.uuid4().hex[:6]}"
    topic = _name("kept")
    publisher = KafkaPublisher(kafka_admin, "test-before-new-user")
    try:
        publisher.publish(topic, "k", {"kept": True})
    finally:
        publisher.close()
    monkeypatch.setattr(devstack_kafka, "SERVICE_USERS", (*devstack_kafka.SERVICE_USERS, user))
    assert devstack_kafka.start(timeout=90) == kafka_admin.bootstrap
    assert devstack_kafka.client_env(user)["KAFKA_SASL_USERNAME"] == user
    config = devstack_kafka.client_config(user, kafka_admin.bootstrap)
    assert wait_for_broker(config, 10.0)
    consumer = KafkaConsumer(topic, **config.kwargs(), auto_offset_reset="earliest")
    try:
        polled = consumer.poll(timeout_ms=10000)
        assert [m.value for batch in polled.values() for m in batch] == [b'{"kept":true}']
    finally:
        consumer.close()


def test_topic_tool_creates_topics_over_sasl_ssl(kafka_admin: KafkaClientConfig) -> None:
    """What the k8s Job kafka-topics runs, with the admin user's KAFKA_* variables only."""
    topics = [_name("tool-a"), _name("tool-b")]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")},
        **devstack_kafka.client_env(devstack_kafka.ADMIN_USER, kafka_admin.bootstrap),
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "salesync_common.kafka_topics", "--partitions", "2"]
    command += ["--replication-factor", "1", "--config", "min.insync.replicas=1", *topics]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [f"{t}: created" for t in topics]
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout.splitlines() == [f"{t}: exists" for t in topics]
    admin = KafkaAdminClient(**kafka_admin.kwargs())
    try:
        described = {t["name"]: t for t in admin.describe_topics(topics)}
    finally:
        admin.close()
    assert all(len(described[t]["partitions"]) == 2 for t in topics)

    refused = subprocess.run(
        [*command[:-2], "--timeout", "3", _name("never")],
        env={**env, "KAFKA_SASL_PASSWORD": "wrong"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()[-1:]
    assert "refused the SCRAM-SHA-512 login of user 'admin'" in line
    unconfigured = subprocess.run(
        command, env={**env, "KAFKA_SSL_CAFILE": ""}, capture_output=True, text=True, timeout=60
    )
    assert unconfigured.returncode == 2
    assert unconfigured.stderr.strip() == (
        "kafka-topics: configuration error: KAFKA_SECURITY_PROTOCOL=SASL_SSL needs "
        "KAFKA_SSL_CAFILE (the CA bundle that signed the broker certificates)"
    )


# ---------------------------------------------------------------------------------------------
# Consumer metrics


def _sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_consumer_metrics_show_lag_while_stuck_and_zero_once_caught_up(
    kafka_admin: KafkaClientConfig,
) -> None:
    topic, group = _name("lag"), _name("group")
    publisher = KafkaPublisher(kafka_admin, "test-publisher-lag")
    try:
        for n in (1, 2, 3):
            publisher.publish(topic, f"k{n}", {"n": n})
    finally:
        publisher.close()
    published_at = time.time()
    time.sleep(1.0)  # so that the oldest record is measurably old

    class Stuck(Collector):
        """Fails on k1 until released: the consumer stays at offset 0, 3 records behind."""

        def __init__(self) -> None:
            super().__init__()
            self.release = threading.Event()

        def __call__(self, record: KafkaRecord) -> None:
            if record.key == "k1" and not self.release.is_set():
                with self._cond:
                    self.calls.append(record.offset)
                    self._cond.notify_all()
                raise RuntimeError("simulated stuck handler")
            super().__call__(record)

    handler = Stuck()
    labels = {"group": group, "topic": topic}
    with Running(kafka_admin, group, topic, handler):
        with handler._cond:
            assert handler._cond.wait_for(lambda: len(handler.calls) >= 2, timeout=30)
        deadline = time.monotonic() + 10
        while _sample("salesync_consumer_records_behind", **labels) != 3.0:
            assert time.monotonic() < deadline, _sample(
                "salesync_consumer_records_behind", **labels
            )
            time.sleep(0.1)
        lag = _sample("salesync_consumer_lag_seconds", **labels)
        assert lag is not None and lag >= 1.0, lag
        assert lag <= time.time() - published_at + 1.0
        assert (_sample("salesync_events_consumed_total", topic=topic, outcome="failed") or 0) >= 2

        handler.release.set()
        assert handler.wait_for(lambda recs: len(recs) >= 3)
        deadline = time.monotonic() + 10
        while _sample("salesync_consumer_records_behind", **labels) != 0.0:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert _sample("salesync_consumer_lag_seconds", **labels) == 0.0
        assert _sample("salesync_events_consumed_total", topic=topic, outcome="handled") == 3.0
