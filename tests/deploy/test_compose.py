"""docker-compose.yml: the same images, variables, ports and hardening as the k8s manifests,
migrations before each service, PostgreSQL roles/schemas and the Kafka topics as in k8s, nginx as
the only published port with the routes of the route table (as the ALB), and no secret written in
the file. It is valid Compose: against the Compose Specification's JSON schema
(``compose_schema/``) and as read by the engine's own compose tool (``docker compose config`` where
Docker answers, else ``podman-compose config``). The images it names are the ones ``make images``
tags and ``tests/e2e/test_images.py`` runs."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from devstack import deploy_tools, images
from salesync_common.kafka import wait_for_broker
from tests.deploy.conftest import (
    DB_SERVICES,
    PROCESSES,
    REPO,
    SERVICES,
    WORKLOADS,
    owner,
    parse_files,
    require_tool,
    require_tools_python,
    run_ok,
)

pytestmark = pytest.mark.deploy

COMPOSE = REPO / "docker-compose.yml"
INFRA = {"postgres", "kafka", "kafka-topics", "redis", "ingress"}
# Expected difference from k8s: no AWS region locally (SMS are written to the log).
K8S_ONLY = {"AWS_REGION"}
TMPFS = "/tmp:"  # noqa: S108 - the containers' tmpfs mount


@pytest.fixture(scope="module")
def compose() -> dict:
    (doc,) = parse_files([COMPOSE])[str(COMPOSE)]
    return doc


def test_services_and_migrations(compose: dict) -> None:
    services = compose["services"]
    expected = set(WORKLOADS) | {f"{n}-migrate" for n in DB_SERVICES} | INFRA
    assert set(services) == expected
    # Another process of a service's image (the order stream): its entry point, same hardening.
    for name, (service, command) in PROCESSES.items():
        process = services[name]
        assert process["image"] == services[service]["image"] and process["command"] == [command]
        assert process["read_only"] is True and process["cap_drop"] == ["ALL"]
        assert process["user"] == services[service]["user"]
        assert process["environment"].get("DATABASE_URL") == services[service]["environment"].get(
            "DATABASE_URL"
        )
    for name, (_pkg, suffix, image) in SERVICES.items():
        svc = services[name]
        assert svc["build"] == {"context": ".", "dockerfile": f"Dockerfile-{suffix}"}
        assert svc["image"] == f"{image}:local"
        assert svc["read_only"] is True
        assert svc["user"] == "10001:10001"
        assert svc["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in svc["security_opt"]
        assert any(t.startswith(TMPFS) for t in svc["tmpfs"])
        assert "command" not in svc and "entrypoint" not in svc, "the image's app.sh runs"
        if name in DB_SERVICES:
            migrate = services[f"{name}-migrate"]
            assert migrate["image"] == svc["image"]
            assert migrate["command"] == ["migrate"]
            assert migrate["environment"] == svc["environment"]
            assert svc["depends_on"][f"{name}-migrate"] == {
                "condition": "service_completed_successfully"
            }
    published = {n: s["ports"] for n, s in services.items() if "ports" in s}
    assert published == {"ingress": ["127.0.0.1:8000:8080"]}, "only the ingress, on loopback"


def test_the_ingress_routes_as_the_route_table_says(compose: dict) -> None:
    from devstack.nginx import COMPOSE_CONFIG, compose_config

    ingress = compose["services"]["ingress"]
    assert ingress["read_only"] is True and ingress["cap_drop"] == ["ALL"]
    assert ingress["configs"] == [{"source": "ingress-nginx", "target": "/etc/nginx/nginx.conf"}]
    assert compose["configs"]["ingress-nginx"]["file"] == "./ingress/nginx.conf"
    assert COMPOSE_CONFIG.read_text() == compose_config(), (
        "ingress/nginx.conf is stale: python -m devstack.nginx compose"
    )
    assert set(ingress["depends_on"]) == set(WORKLOADS)
    for name in ("store", "dashboard", "consulting"):
        env = compose["services"][name]["environment"]
        assert env["RATE_LIMIT_STORAGE_URI"].startswith(
            "redis://:${SALESYNC_REDIS_PASSWORD}@redis:"
        )
        assert compose["services"][name]["depends_on"]["redis"] == {"condition": "service_healthy"}


def test_environment_matches_the_k8s_configuration(
    compose: dict, rendered_docs: Callable[[str], list[dict]]
) -> None:
    docs = rendered_docs("k8s/overlays/prd")
    configmaps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    for name in WORKLOADS:
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        k8s_keys = set(configmaps[container["envFrom"][0]["configMapRef"]["name"]])
        k8s_keys |= {e["name"] for e in container["env"]}
        env = compose["services"][name]["environment"]
        assert set(env) == k8s_keys - K8S_ONLY, name
        assert env["SALESYNC_ENV"] == "production"
        assert env["SERVICE_NAME"] == name
        assert env["PORT"] == "8080"
        for key, value in env.items():
            if key.endswith("_SERVICE_URL"):
                callee = key.removesuffix("_SERVICE_URL").lower()
                assert value == f"http://{callee}:8080"
        for key in ("JWT_SECRET", "SERVICE_TOKEN_SECRET", "PIN_TAG_SECRET"):
            if key not in env:
                assert name != "store", key
                continue
            assert re.fullmatch(r"\$\{" + key + r":\?[^}]+\}", env[key]), "required, from env"
        if "DATABASE_URL" in env:
            assert "${SALESYNC_DB_PASSWORD}" in env["DATABASE_URL"]
            assert env["DATABASE_URL"].startswith(f"postgresql://{owner(name)}:")
        if "OPENAI_API_KEY" in env:
            assert env["OPENAI_API_KEY"] == "${OPENAI_API_KEY:-}"


def test_no_literal_secret(compose: dict) -> None:
    text = COMPOSE.read_text()
    assert not re.search(r"(?i)(password|secret|api_key)\s*[:=]\s*['\"]?[A-Za-z0-9]{8,}", text)
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith(
        "${SALESYNC_DB_PASSWORD:?"
    )


def test_database_roles_and_kafka_topic_match_k8s(compose: dict) -> None:
    sql = compose["configs"]["postgres-init"]["content"]
    for name in DB_SERVICES:
        assert f'CREATE ROLE "{name}" LOGIN' in sql
        assert f'CREATE SCHEMA "{name}" AUTHORIZATION "{name}"' in sql
        assert f'ALTER ROLE "{name}" SET search_path = "{name}"' in sql
    topics = compose["services"]["kafka-topics"]
    job = (REPO / "k8s" / "base" / "consulting" / "kafka-topic-job.yaml").read_text()
    assert topics["image"] == compose["services"]["consulting"]["image"], "the k8s Job's image too"
    assert topics["entrypoint"] == ["python", "-m", "salesync_common.kafka_topics"]
    assert "- salesync_common.kafka_topics" in job
    for topic in ("consulting.results", "menu.items", "orders.events"):
        assert topic in topics["command"] and f"        - {topic}\n" in job, topic
    assert topics["environment"]["KAFKA_SASL_USERNAME"] == "admin"
    pom = (REPO / "devstack" / "kafka_maven" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>([\d.]+)</kafka.version>", pom)
    assert version and compose["services"]["kafka"]["image"] == f"apache/kafka:{version.group(1)}"
    for name in ("dashboard", "consulting", "item", "order", "sale"):
        deps = compose["services"][name]["depends_on"]
        assert deps["kafka-topics"] == {"condition": "service_completed_successfully"}


def test_kafka_clients_log_in_over_sasl_ssl_as_their_own_user(compose: dict) -> None:
    services = compose["services"]
    broker = services["kafka"]
    users = broker["environment"]["KAFKA_USERS"].split()
    assert sorted(users) == ["admin", "consulting", "dashboard", "item", "order", "sale"]
    assert broker["environment"]["SALESYNC_KAFKA_PASSWORD"].startswith(
        "${SALESYNC_KAFKA_PASSWORD:?"
    )
    assert "kafka-tls:/etc/kafka/secrets" in broker["volumes"]
    assert "ports" not in broker, "reachable on the compose network only"
    clients = {
        n: s for n, s in services.items() if "KAFKA_BOOTSTRAP_SERVERS" in s.get("environment", {})
    }
    kafka_services = ("dashboard", "consulting", "item", "order", "sale")
    assert set(clients) == {
        "kafka-topics",
        *kafka_services,
        *(f"{n}-migrate" for n in kafka_services),
    }
    for name, svc in clients.items():
        env = svc["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9096"
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        assert env["KAFKA_SSL_CAFILE"] == "/etc/salesync/kafka/ca.pem"
        assert "kafka-tls:/etc/salesync/kafka:ro" in svc["volumes"], name
        assert env["KAFKA_SASL_PASSWORD"].startswith("${SALESYNC_KAFKA_PASSWORD:?"), name
        assert env["KAFKA_SASL_USERNAME"] == name.removesuffix("-migrate").replace(
            "kafka-topics", "admin"
        )
        assert env["KAFKA_SASL_USERNAME"] in users
        assert svc["depends_on"].get("kafka", {"condition": "service_healthy"}) == {
            "condition": "service_healthy"
        }


@pytest.mark.kafka
@pytest.mark.timeout(240)
def test_the_compose_broker_script_serves_sasl_ssl_to_its_users(tmp_path: Path) -> None:
    """compose/kafka-broker.sh, run here against the devstack's Kafka jars instead of the image's
    /opt/kafka: its keytool CA, SCRAM users and listeners accept the right login over TLS and
    refuse a wrong one."""
    from kafka import KafkaConsumer

    from devstack import kafka as devstack_kafka
    from devstack.testing import free_port
    from salesync_common.kafka import KafkaClientConfig, KafkaPublisher, describe_connection_problem
    from salesync_common.kafka_topics import ensure_topics

    devstack_kafka.ensure_jars()
    lib, log4j = devstack_kafka.LIB_DIR, devstack_kafka.KAFKA_HOME / "log4j2.properties"
    log4j.write_text(devstack_kafka.LOG4J2_CONFIG)
    java = [devstack_kafka._java(), *devstack_kafka.TOOL_JVM_FLAGS]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for script, main in (
        ("kafka-storage.sh", "kafka.tools.StorageTool"),
        ("kafka-server-start.sh", "kafka.Kafka"),
    ):
        command = [*java, f"-Dlog4j2.configurationFile={log4j}", "-cp", f'"{lib}/*"', main]
        (bin_dir / script).write_text(f'#!/bin/sh\nexec {" ".join(command)} "$@"\n')
        (bin_dir / script).chmod(0o755)
    for folder in ("tls", "data"):
        (tmp_path / folder).mkdir()
    port = free_port()
    env = {
        **os.environ,
        "SALESYNC_KAFKA_PASSWORD": "compose-test-password",
        "KAFKA_USERS": "dashboard consulting admin",
        "KAFKA_BIN": str(bin_dir),
        "TLS_DIR": str(tmp_path / "tls"),
        "DATA_DIR": str(tmp_path / "data"),
        "CONFIG": str(tmp_path / "server.properties"),
        "ADVERTISED_HOST": "localhost",
        "CLIENT_PORT": str(port),
        "INTERNAL_PORT": str(free_port()),
        "CONTROLLER_PORT": str(free_port()),
    }
    log = (tmp_path / "broker.log").open("wb")
    broker = subprocess.Popen(
        ["bash", str(REPO / "compose" / "kafka-broker.sh")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        config = KafkaClientConfig(
            bootstrap_servers=(f"localhost:{port}",),
            security_protocol="SASL_SSL",
            ssl_cafile=str(tmp_path / "tls" / "ca.pem"),
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username="dashboard",
            sasl_password="compose-test-password",
        )
        deadline = time.monotonic() + 180
        while not (tmp_path / "tls" / "ca.pem").exists() or wait_for_broker(config, 3.0) is False:
            assert broker.poll() is None, (tmp_path / "broker.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (tmp_path / "broker.log").read_text()[-3000:]
            time.sleep(1)
        assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == ["broker.p12", "ca.pem"]
        as_user = {
            user: dataclasses.replace(config, sasl_username=user)
            for user in ("admin", "consulting", "dashboard")
        }
        # What the compose service kafka-topics does, then consulting -> dashboard.
        created = ensure_topics(
            as_user["admin"], ["consulting.results"], partitions=1, replication_factor=1
        )
        assert created == ["consulting.results"]
        publisher = KafkaPublisher(as_user["consulting"], "compose-test")
        try:
            publisher.publish("consulting.results", "req-1", {"req_id": "req-1"})
        finally:
            publisher.close()
        consumer = KafkaConsumer(
            "consulting.results", **as_user["dashboard"].kwargs(), auto_offset_reset="earliest"
        )
        try:
            polled = consumer.poll(timeout_ms=15000)
            assert [m.key for batch in polled.values() for m in batch] == [b"req-1"]
        finally:
            consumer.close()
        refused = describe_connection_problem(dataclasses.replace(config, sasl_password="wrong"))
        assert "refused the SCRAM-SHA-512 login of user 'dashboard'" in refused, refused
    finally:
        os.killpg(broker.pid, signal.SIGTERM)
        try:
            broker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(broker.pid, signal.SIGKILL)
            broker.wait(timeout=10)
        log.close()


def test_compose_file_is_valid_compose(compose: dict) -> None:
    schema = REPO / "tests" / "deploy" / "compose_schema" / "compose-spec.json"
    python = require_tools_python()
    run_ok([python, "-m", "devstack.deploy_tools", "validate-json", "--schema", schema, COMPOSE])
    services = compose["services"]
    for name, svc in services.items():
        for dependency in svc.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_compose_file_is_valid_for_the_container_engine() -> None:
    """The engine's own compose tool reads and interpolates the file (no container is started)."""
    try:
        engine = images.detect_engine(install=False)
    except images.EngineMissingError as exc:
        if deploy_tools.in_ci():
            pytest.fail(f"{exc} (CI=true: a missing container engine is a failure)")
        pytest.skip(str(exc))
    required = {
        "JWT_SECRET": "j" * 40,
        "SERVICE_TOKEN_SECRET": "s" * 40,
        "SALESYNC_DB_PASSWORD": "p" * 20,
        "SALESYNC_KAFKA_PASSWORD": "k" * 20,
        "SALESYNC_REDIS_PASSWORD": "r" * 20,
        "PIN_TAG_SECRET": "t" * 40,
    }
    if engine.name == "docker":
        cmd = ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"]
    else:
        cmd = [str(require_tool("podman-compose")), "-f", str(COMPOSE), "config"]
    env = {**os.environ, **required}
    proc = run_env(cmd, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Without the required secrets the tool refuses, naming the variable.
    missing = {k: v for k, v in env.items() if k != "JWT_SECRET"}
    refused = run_env(cmd, missing)
    assert refused.returncode != 0 and "JWT_SECRET" in refused.stdout + refused.stderr


def run_env(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
