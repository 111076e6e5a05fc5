"""Consulting -> outbox -> real Kafka -> dashboard consumer, end to end (never skipped).

The consulting app (worker pool, outbox relay) and the dashboard app (its long-lived consumer)
run with background threads against the devstack broker over SASL_SSL, each with its own SCRAM
user (as on MSK); the dashboard's own data sources are faked (its report is tested elsewhere).
Each test uses its own topic and group for isolation.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import jsonschema
import pytest
import requests
from kafka import KafkaConsumer
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from consulting_service.app.models import ConsultingRequest, Outbox
from consulting_service.app.models import db as consulting_db
from dashboard_service.app.models import ConsultingResult
from dashboard_service.app.models import db as dashboard_db
from dashboard_service.tests.fakes import FakeUpstream
from devstack import kafka as devstack_kafka
from devstack.testing import auth_headers, kafka_apps, token_for, wait_for
from salesync_common.kafka import KafkaPublisher
from salesync_common.settings import REPO_ROOT

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]
SCHEMA = json.loads(
    (REPO_ROOT / "contracts" / "events" / "consulting.results.v1.schema.json").read_text()
)
STORE = 5301


@pytest.fixture(scope="module")
def upstream(serve):
    fake = FakeUpstream()
    fake.item_sales[STORE] = [
        {
            "date": "2026-11-20",
            "item_id": 1,
            "item_name": "떡볶이",
            "quantity": 10,
            "sales_volume": 50000,
            "cost_total": 20000,
            "uncosted_quantity": 0,
            "uncosted_first_paid_at": None,
        }
    ]
    fake.daily[STORE] = [
        {"date": "2026-11-20", "sales_volume": 50000, "payments": 4, "refunded": 0}
    ]
    fake.url = serve(fake.app()).url
    return fake


class Stack:
    def __init__(self, consulting, dashboard, topic: str, dashboard_url: str, group: str) -> None:
        self.consulting, self.dashboard, self.topic = consulting, dashboard, topic
        self.dashboard_url, self.group = dashboard_url, group
        self.c = consulting.test_client()
        self.d = dashboard.test_client()

    def dashboard_metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """The dashboard's /metrics over HTTP: {(sample name, sorted labels): value}."""
        response = requests.get(f"{self.dashboard_url}/metrics", timeout=5)
        assert response.status_code == 200
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }

    def dashboard_rows(self, req_id: str) -> list[ConsultingResult]:
        with self.dashboard.app_context():
            return dashboard_db.session.scalars(
                select(ConsultingResult).where(ConsultingResult.req_id == req_id)
            ).all()

    def consulting_row(self, req_id: str) -> ConsultingRequest:
        with self.consulting.app_context():
            return consulting_db.session.scalar(
                select(ConsultingRequest).where(ConsultingRequest.req_id == req_id)
            )

    def outbox(self, req_id: str):
        with self.consulting.app_context():
            return consulting_db.session.execute(select(Outbox).where(Outbox.c.key == req_id)).one()


@pytest.fixture()
def stack(service_app, serve, upstream, kafka_broker) -> Iterator[Stack]:
    topic = f"consulting.results.test-{uuid.uuid4().hex[:8]}"
    group = f"dashboard-test-{uuid.uuid4().hex[:8]}"
    urls = {f"{name}_service_url": upstream.url for name in ("store", "item", "order", "sale")}
    with kafka_apps(service_app, kafka_broker) as start:
        dashboard = start(
            "dashboard_service",
            consulting_results_topic=topic,
            consulting_results_group=group,
            rate_limits_enabled=False,
            **urls,
        )
        served = serve(dashboard)
        consulting = start(
            "consulting_service",
            consulting_results_topic=topic,
            dashboard_service_url=served.url,
            rate_limits_enabled=False,
            sweep_interval_seconds=1.0,
        )
        yield Stack(consulting, dashboard, topic, served.url, group)


def ask(stack: Stack, start: str, end: str) -> str:
    response = stack.c.get(
        f"/consulting/?start={start}&end={end}", headers=auth_headers(token_for(STORE))
    )
    assert response.status_code == 200, response.json
    return response.json["req_id"]


def test_request_reaches_dashboard_through_kafka(stack, kafka_broker):
    req_id = ask(stack, "2026-11-20", "2026-11-20")
    headers = auth_headers(token_for(STORE))
    wait_for(
        lambda: stack.c.get(f"/consulting/{req_id}", headers=headers).json["result"] == "success",
        60,
        "consulting status success",
    )
    body = stack.d.get(f"/dashboard/consulting/{req_id}", headers=headers).json
    assert body["result"] == "success" and body["message"] == "상담 요청 조회 성공"
    assert "떡볶이" in body["consulting"]
    assert body["consulting"] == stack.consulting_row(req_id).advice
    assert stack.d.get(f"/dashboard/consulting/test/{req_id}", headers=headers).json == body
    assert len(stack.dashboard_rows(req_id)) == 1

    # What went over the wire: keyed by req_id, valid against the versioned schema.
    consumer = KafkaConsumer(
        stack.topic,
        **devstack_kafka.client_config("admin", kafka_broker).kwargs(),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10000,
    )
    try:
        on_topic = list(consumer)  # every record, until none came for 10 s
    finally:
        consumer.close()
    records = [r for r in on_topic if r.key == req_id.encode()]
    assert len(records) == 1
    value = json.loads(records[0].value)
    jsonschema.validate(value, SCHEMA)
    assert value["req_id"] == req_id and value["store_id"] == STORE
    assert dict(records[0].headers)["event_id"].decode() == value["event_id"]

    # The dashboard consumer's metrics, read from its /metrics after the round trip: each record
    # on the topic handled once (the consulting sweeper may also finish requests other tests left
    # behind, on this topic), nothing behind, no lag.
    labels = (("group", stack.group), ("topic", stack.topic))
    handled = ("salesync_events_consumed_total", (("outcome", "handled"), ("topic", stack.topic)))
    wait_for(lambda: stack.dashboard_metrics().get(handled) == len(on_topic), 20, "events consumed")
    metrics = stack.dashboard_metrics()
    assert metrics[("salesync_consumer_records_behind", labels)] == 0.0
    assert metrics[("salesync_consumer_lag_seconds", labels)] == 0.0


def test_kafka_down_while_result_is_produced_then_delivered_once(stack, kafka_broker):
    devstack_kafka.stop()
    try:
        req_id = ask(stack, "2026-11-19", "2026-11-20")
        wait_for(lambda: stack.consulting_row(req_id).status == "succeeded", 30, "advice written")
        wait_for(lambda: stack.outbox(req_id).attempts >= 1, 40, "a failed publish attempt")
        assert stack.outbox(req_id).published_at is None  # kept in the outbox
        assert stack.dashboard_rows(req_id) == []
    finally:
        assert devstack_kafka.start(timeout=120) == kafka_broker  # same ports: clients reconnect
    wait_for(lambda: len(stack.dashboard_rows(req_id)) == 1, 120, "delivery after Kafka is back")
    assert stack.outbox(req_id).published_at is not None
    time.sleep(2)  # any redelivery would have landed by now
    assert len(stack.dashboard_rows(req_id)) == 1
    headers = auth_headers(token_for(STORE))
    wait_for(
        lambda: stack.c.get(f"/consulting/{req_id}", headers=headers).json["result"] == "success",
        10,
        "consulting status success",
    )


def test_duplicate_messages_store_one_result(stack, kafka_broker):
    req_id = uuid.uuid4().hex
    event = {
        "event_id": str(uuid.uuid4()),
        "req_id": req_id,
        "store_id": STORE,
        "status": "succeeded",
        "advice": "중복 테스트 조언",
        "model": "offline-analyst",
        "created_at": "2026-11-23T10:00:00+00:00",
    }
    jsonschema.validate(event, SCHEMA)
    publisher = KafkaPublisher(
        devstack_kafka.client_config("consulting", kafka_broker), client_id="test-duplicates"
    )
    try:
        publisher.publish(stack.topic, req_id, event, {"event_id": event["event_id"]})
        publisher.publish(stack.topic, req_id, event, {"event_id": event["event_id"]})
        publisher.publish(
            stack.topic, req_id, {**event, "event_id": str(uuid.uuid4()), "advice": "다른"}
        )
        marker = uuid.uuid4().hex
        publisher.publish(stack.topic, marker, {**event, "req_id": marker, "event_id": marker})
    finally:
        publisher.close()
    wait_for(lambda: len(stack.dashboard_rows(marker)) == 1, 60, "the later marker")
    rows = stack.dashboard_rows(req_id)
    assert len(rows) == 1 and rows[0].advice == "중복 테스트 조언"
    with stack.dashboard.app_context():
        total = dashboard_db.session.scalar(
            select(func.count()).where(ConsultingResult.req_id.in_([req_id, marker]))
        )
    assert total == 2
