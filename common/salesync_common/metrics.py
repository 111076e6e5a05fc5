"""Prometheus metrics, multiprocess-safe under gunicorn (``PROMETHEUS_MULTIPROC_DIR``).

Labels use the route *template* (``/orders/unpaids/<id:table_no>``), never the raw path, so ids
cannot explode cardinality.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter(
    "salesync_http_requests_total",
    "HTTP requests handled",
    ["service", "method", "route", "status"],
)
LATENCY = Histogram(
    "salesync_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DEPENDENCY_ERRORS = Counter(
    "salesync_dependency_errors_total",
    "Failed calls to a dependency (service, database, Kafka, OpenAI, SNS)",
    ["dependency", "reason"],
)
DEPENDENCY_LATENCY = Histogram(
    "salesync_dependency_duration_seconds",
    "Latency of calls to sibling services",
    ["dependency"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
OUTBOX_PENDING = Gauge(
    "salesync_outbox_pending",
    "Outbox rows not yet published",
    ["topic"],
    multiprocess_mode="max",
)
OUTBOX_LAG = Gauge(
    "salesync_outbox_lag_seconds",
    "Age of the oldest unpublished outbox row",
    ["topic"],
    multiprocess_mode="max",
)
OUTBOX_PUBLISHED = Counter("salesync_outbox_published_total", "Outbox rows published", ["topic"])
# Consumer metrics are set by salesync_common.kafka.KafkaSubscriber after every poll, for the
# partitions the process owns (each gunicorn worker is a member of the group): "live" modes drop
# the values of workers that exited, so a rebalance or a restart leaves no stale series.
CONSUMER_LAG = Gauge(
    "salesync_consumer_lag_seconds",
    "While the consumer is behind the newest record: age of the record it is at (0 = caught up)",
    ["group", "topic"],
    multiprocess_mode="livemax",
)
CONSUMER_RECORDS_BEHIND = Gauge(
    "salesync_consumer_records_behind",
    "Records between the consumer's position and the partitions' high watermark",
    ["group", "topic"],
    multiprocess_mode="livesum",
)
EVENTS_CONSUMED = Counter(
    "salesync_events_consumed_total",
    "Events given to consumers, by outcome: handled, failed (retried), skipped (malformed)",
    ["topic", "outcome"],
)


def render_metrics() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
