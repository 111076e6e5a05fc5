"""docker-compose.yml: the same images, variables, ports and hardening as the k8s manifests,
migrations before each service, PostgreSQL roles/schemas and the Kafka topic as in k8s, nginx as
the only published port with the routes of the route table (as the ALB), and no secret written in
the file. (No Docker engine or ``docker compose`` CLI exists on these machines:
the file is checked structurally, not run.)"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.deploy.conftest import DB_SERVICES, REPO, SERVICES, parse_files

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
    expected = set(SERVICES) | {f"{n}-migrate" for n in DB_SERVICES} | INFRA | {"order-stream"}
    assert set(services) == expected
    # The live table status: the order image with its `stream` entry point, same hardening.
    stream = services["order-stream"]
    assert stream["image"] == services["order"]["image"] and stream["command"] == ["stream"]
    assert stream["read_only"] is True and stream["cap_drop"] == ["ALL"]
    assert stream["environment"]["DATABASE_URL"] == services["order"]["environment"]["DATABASE_URL"]
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
    assert set(ingress["depends_on"]) == set(SERVICES) | {"order-stream"}
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
    for name in SERVICES:
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
            assert env["DATABASE_URL"].startswith(f"postgresql://{name}:")
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
    job = (REPO / "k8s" / "base" / "consulting" / "kafka-topic-job.yaml").read_text()
    topics = compose["services"]["kafka-topics"]
    assert topics["image"] == compose["services"]["kafka"]["image"]
    assert f"image: {topics['image']}" in job, "same Kafka tools version as the k8s Job"
    script = " ".join(topics["command"])
    for topic in ("consulting.results", "menu.items", "orders.events"):
        assert topic in script and topic in job, topic
    pom = (REPO / "devstack" / "kafka" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>([\d.]+)</kafka.version>", pom)
    assert version and topics["image"] == f"apache/kafka:{version.group(1)}"
    for name in ("dashboard", "consulting", "item", "order", "sale"):
        deps = compose["services"][name]["depends_on"]
        assert deps["kafka-topics"] == {"condition": "service_completed_successfully"}
