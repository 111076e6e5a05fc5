"""Create Kafka topics that do not exist yet, with the services' own Kafka settings.

``python -m salesync_common.kafka_topics [--partitions N] [--replication-factor N]
[--config KEY=VALUE ...] TOPIC [TOPIC ...]``

Run by the k8s Job ``kafka-topics`` (and docker-compose) before the services start: topic
auto-creation is off on MSK, so partitions and replication are decided here. The admin client is
built by :func:`salesync_common.kafka.kafka_client_config` from ``KAFKA_*`` variables alone (TLS and
SCRAM like every other client), so the Job needs no database or token secrets. Existing topics are
left as they are (idempotent); any other failure exits non-zero with a one-line reason.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence

from kafka import KafkaAdminClient
from kafka.errors import KafkaError, TopicAlreadyExistsError
from pydantic import ValidationError

from salesync_common.kafka import (
    KafkaClientConfig,
    describe_connection_problem,
    kafka_client_config,
)
from salesync_common.settings import KafkaSettings, configuration_error


def ensure_topics(
    config: KafkaClientConfig,
    topics: Sequence[str],
    *,
    partitions: int,
    replication_factor: int,
    topic_configs: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create each missing topic; returns the ones created (existing ones are not changed)."""
    admin = KafkaAdminClient(
        **config.kwargs(),
        client_id="salesync-kafka-topics",
        bootstrap_timeout_ms=int(timeout_s * 1000),
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        result = admin.create_topics(
            {
                name: {
                    "num_partitions": partitions,
                    "replication_factor": replication_factor,
                    "configs": dict(topic_configs or {}),
                }
                for name in topics
            },
            timeout_ms=int(timeout_s * 1000),
            raise_errors=False,
        )
    finally:
        admin.close()
    created = []
    for topic in result["topics"]:
        code = topic["error_code"]
        if code == TopicAlreadyExistsError.errno:
            continue
        if code != 0:
            raise KafkaError(f"topic {topic['name']}: error {code} {topic.get('error_message')}")
        created.append(topic["name"])
    return created


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m salesync_common.kafka_topics")
    parser.add_argument("topics", nargs="+", metavar="TOPIC")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--replication-factor", type=int, default=3)
    parser.add_argument("--config", type=_key_value, action="append", default=[])
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per step")
    args = parser.parse_args(argv)
    try:
        config = kafka_client_config(KafkaSettings())
    except ValidationError as exc:
        print(f"kafka-topics: configuration error: {configuration_error(exc)}", file=sys.stderr)
        return 2
    if config is None:
        print("kafka-topics: KAFKA_BOOTSTRAP_SERVERS is not set", file=sys.stderr)
        return 2
    try:
        created = ensure_topics(
            config,
            args.topics,
            partitions=args.partitions,
            replication_factor=args.replication_factor,
            topic_configs=dict(args.config),
            timeout_s=args.timeout,
        )
    except KafkaError as exc:
        print(
            f"kafka-topics: {exc} ({describe_connection_problem(config)})",
            file=sys.stderr,
        )
        return 1
    for name in args.topics:
        print(f"{name}: {'created' if name in created else 'exists'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
