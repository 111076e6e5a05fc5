"""k8s/: every overlay builds with kustomize, validates strictly against the Kubernetes schemas
(kubernetes-validate, offline) and follows the team's rules: hardened pods, probes, references to
secrets only, one migration Job per database service, and NetworkPolicies that allow exactly the
documented calls."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from devstack import deploy_tools
from salesync_common import gunicorn_conf
from salesync_common.routing import BLOCKED_PREFIXES, DEFAULT_SERVICE, ROUTES, UPSTREAMS
from tests.deploy.conftest import (
    CRD_SCHEMAS,
    DB_SERVICES,
    OVERLAYS,
    PROCESSES,
    REPO,
    SERVICES,
    WORKLOADS,
    owner,
    parse_files,
    require_tool,
    require_tools_python,
    run,
)

pytestmark = pytest.mark.deploy

# Who calls whom (docs: architecture.md; the team's conventions).
CALLS: dict[str, set[str]] = {
    # /bff/* are answered by the dashboard; the merged OpenAPI reads every /openapi.json
    "bff": {"store", "item", "order", "sale", "dashboard", "consulting"},
    "store": set(),
    "item": set(),
    "order": {"item"},
    "sale": {"order"},
    "dashboard": {"order", "sale", "item", "store"},
    "consulting": {"dashboard"},
    # the live table status: reached by the ALB only, reads order_events in PostgreSQL only
    "order-stream": set(),
}
KAFKA_SERVICES = {"dashboard", "consulting", "item", "order", "sale"}
KAFKA_PORT = 9096  # MSK's SASL/SCRAM-over-TLS listener
# What every Kafka client runs with on MSK (the settings tests/integration/test_kafka.py proves
# against the devstack broker): SASL_SSL, SCRAM-SHA-512, the image's system CA bundle.
KAFKA_CONFIG = {
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SSL_CAFILE": "/etc/ssl/certs/ca-certificates.crt",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
}
KAFKA_CREDENTIALS = {"KAFKA_SASL_USERNAME": "username", "KAFKA_SASL_PASSWORD": "password"}
RATE_LIMITED = {"store", "dashboard", "consulting"}  # their limits count in Redis (ElastiCache)
ALB_SUBNETS = "10.20.0.0/22"  # the public subnets of terraform/modules/vpc
INTERNET_SERVICES = {"dashboard", "consulting"}  # SNS (+STS for IRSA), OpenAI
TMP = "/tmp"  # noqa: S108 - the emptyDir mount point in the pods, not a temp file here
METRICS_DIR = f"{TMP}/prometheus"
HTTP_PORT = {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
MONITORING_NS = {"kubernetes.io/metadata.name": "monitoring"}
URL_VARS = {name: f"{name.upper()}_SERVICE_URL" for name in SERVICES if name != "bff"}

KUSTOMIZE_ROOTS = [
    "k8s/overlays/dev",
    "k8s/overlays/prd",
    "k8s/argocd/dev/apps",
    "k8s/argocd/prd/apps",
    "observability",
]


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def pod_labels(workload: dict) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def entry_point_environment(workload: str) -> dict[str, str]:
    """The environment defaults a process's entry point brings (empty for a service)."""
    if workload not in PROCESSES:
        return {}
    service, command = PROCESSES[workload]
    config = importlib.import_module(f"{SERVICES[service][0]}.config")
    return dict(config.ENTRY_POINTS[command].environment)


def configmap_for(docs: list[dict], workload: dict) -> dict[str, str]:
    (container,) = pod_spec(workload)["containers"]
    names = [e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e]
    assert len(names) == 1, f"{workload['metadata']['name']}: expected one envFrom ConfigMap"
    return by_kind(docs, "ConfigMap")[names[0]]["data"]


# ---------------------------------------------------------------------------------------------
# Build and schema validation


@pytest.mark.parametrize("root", KUSTOMIZE_ROOTS)
def test_kustomize_build_validates_against_kubernetes_schemas(
    root: str, rendered: Callable[[str], Path]
) -> None:
    python = require_tools_python()
    path = rendered(root)
    proc = run(
        [
            python,
            "-m",
            "devstack.deploy_tools",
            "validate-k8s",
            "--kubernetes-version",
            deploy_tools.KUBERNETES_VERSION,
            "--crd-schemas",
            CRD_SCHEMAS,
            path,
        ],
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0 error(s)" in proc.stdout


def test_argocd_root_applications_validate() -> None:
    python = require_tools_python()
    roots = sorted((REPO / "k8s" / "argocd").glob("*/root.yaml"))
    assert [p.parent.name for p in roots] == OVERLAYS
    proc = run(
        [python, "-m", "devstack.deploy_tools", "validate-k8s", "--crd-schemas", CRD_SCHEMAS]
        + [str(p) for p in roots]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_kubernetes_version_matches_terraform() -> None:
    wanted = ".".join(deploy_tools.KUBERNETES_VERSION.split(".")[:2])
    files = [REPO / "terraform" / "envs" / env / "variables.tf" for env in OVERLAYS]
    for path, parsed in parse_files(files).items():
        variables = {k.strip('"'): v for block in parsed["variable"] for k, v in block.items()}
        assert variables["kubernetes_version"]["default"].strip('"') == wanted, (
            f"{path}: EKS should run {wanted}, the version the manifests are validated against"
        )


# ---------------------------------------------------------------------------------------------
# Workloads


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_has_deployment_service_hpa_pdb(
    overlay: str, rendered_docs: Callable[[str], list[dict]]
) -> None:
    docs = rendered_docs(f"k8s/overlays/{overlay}")
    deployments = by_kind(docs, "Deployment")
    assert set(deployments) == set(WORKLOADS)
    assert set(UPSTREAMS) <= set(deployments), "every process an ingress routes to runs"
    services = by_kind(docs, "Service")
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    pdbs = by_kind(docs, "PodDisruptionBudget")
    for name in WORKLOADS:
        image = SERVICES[owner(name)][2]
        dep = deployments[name]
        assert all(d["metadata"]["namespace"] == "salesync" for d in (dep, services[name]))
        (container,) = pod_spec(dep)["containers"]
        repo, _, tag = container["image"].rpartition(":")
        assert repo.endswith(f".dkr.ecr.ap-northeast-1.amazonaws.com/{image}"), container["image"]
        assert tag and tag != "latest"
        assert "command" not in container, "the image's entry point (app.sh) must run"
        if name in PROCESSES:
            # the same image and tag as its service (the overlay's images: entry covers both)
            (service_container,) = pod_spec(deployments[owner(name)])["containers"]
            assert container["image"] == service_container["image"], name
            assert container["args"] == [PROCESSES[name][1]], name
            assert pod_spec(dep)["serviceAccountName"] == name, "an account of its own"
        else:
            assert "args" not in container, name
        assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
        svc = services[name]["spec"]
        assert svc["type"] == "ClusterIP"
        assert svc["selector"] == {"app": name}
        assert svc["ports"] == [HTTP_PORT]
        assert hpas[name]["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert 1 <= hpas[name]["spec"]["minReplicas"] <= hpas[name]["spec"]["maxReplicas"]
        assert pdbs[name]["spec"]["selector"] == {"matchLabels": {"app": name}}
        assert "replicas" not in dep["spec"], "the HPA owns the replica count"
    if overlay == "prd":
        assert all(h["spec"]["minReplicas"] >= 2 for h in hpas.values())


def _check_hardened(workload: dict, *, needs_tmp: bool = True) -> None:
    name = f"{workload['kind']}/{workload['metadata']['name']}"
    spec = pod_spec(workload)
    pod_sc = spec.get("securityContext", {})
    assert pod_sc.get("runAsNonRoot") is True, name
    assert pod_sc.get("runAsUser", 0) > 0, name
    assert pod_sc.get("seccompProfile") == {"type": "RuntimeDefault"}, name
    assert spec.get("automountServiceAccountToken") is False, name
    assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC")
    for container in spec["containers"] + spec.get("initContainers", []):
        sc = container.get("securityContext", {})
        assert sc.get("runAsNonRoot") is True, name
        assert sc.get("readOnlyRootFilesystem") is True, name
        assert sc.get("allowPrivilegeEscalation") is False, name
        assert sc.get("privileged", False) is False, name
        assert sc.get("capabilities", {}).get("drop") == ["ALL"], name
        assert not sc.get("capabilities", {}).get("add"), name
        res = container.get("resources", {})
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(res.get(kind, {})), f"{name}: resources.{kind}"
        image = container["image"]
        assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image
        if needs_tmp:
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            assert TMP in mounts, f"{name}: /tmp must be a writable emptyDir"
            assert "emptyDir" in volumes[mounts[TMP]], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_are_hardened_and_probed(
    overlay: str, rendered_docs: Callable[[str], list[dict]]
) -> None:
    docs = rendered_docs(f"k8s/overlays/{overlay}")
    for name, dep in by_kind(docs, "Deployment").items():
        _check_hardened(dep)
        (container,) = pod_spec(dep)["containers"]
        liveness = container["livenessProbe"]["httpGet"]
        readiness = container["readinessProbe"]["httpGet"]
        assert liveness["path"] == "/healthz" and liveness["port"] in ("http", 8080), name
        # the preStop pause, then gunicorn's graceful shutdown, both before the kill
        pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
        assert pre_stop[0] == "sleep", name
        grace = pod_spec(dep)["terminationGracePeriodSeconds"]
        assert grace > int(pre_stop[1]) + gunicorn_conf.graceful_timeout, name
        assert readiness["path"] == "/readyz" and readiness["port"] in ("http", 8080), name
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz", name
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod_spec(dep)["volumes"]}
        assert "emptyDir" in volumes[mounts[METRICS_DIR]], name
        config = configmap_for(docs, dep)
        assert config["PROMETHEUS_MULTIPROC_DIR"] == METRICS_DIR, name
        annotations = dep["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == "8080"
        assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_jobs_are_hardened(overlay: str, rendered_docs: Callable[[str], list[dict]]) -> None:
    jobs = by_kind(rendered_docs(f"k8s/overlays/{overlay}"), "Job")
    assert jobs
    for job in jobs.values():
        _check_hardened(job)
        assert pod_spec(job)["restartPolicy"] == "Never"
        assert job["spec"]["backoffLimit"] <= 5
        assert job["spec"]["activeDeadlineSeconds"] <= 900


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_one_migration_job_per_database_service_before_its_deployment(
    overlay: str, rendered_docs: Callable[[str], list[dict]]
) -> None:
    docs = rendered_docs(f"k8s/overlays/{overlay}")
    jobs = by_kind(docs, "Job")
    deployments = by_kind(docs, "Deployment")
    migrations = {n for n, j in jobs.items() if n.endswith("-migrate")}
    assert migrations == {f"{name}-migrate" for name in DB_SERVICES}
    wave = lambda d: int(d["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])  # noqa: E731
    for name in DB_SERVICES:
        job = jobs[f"{name}-migrate"]
        (container,) = pod_spec(job)["containers"]
        (app,) = pod_spec(deployments[name])["containers"]
        assert container["image"] == app["image"], "migrations run the service's own image"
        assert container["args"] == ["migrate"]
        assert "command" not in container, "the image's entry point (app.sh) must run"
        assert configmap_for(docs, job) == configmap_for(docs, deployments[name])
        annotations = job["metadata"]["annotations"]
        assert annotations["argocd.argoproj.io/hook"] == "Sync"
        assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
        assert wave(jobs["db-bootstrap"]) < wave(job) < wave(deployments[name])
    for name in PROCESSES:
        if owner(name) in DB_SERVICES:
            assert wave(jobs[f"{owner(name)}-migrate"]) < wave(deployments[name]), name
    assert wave(jobs["kafka-topics"]) < wave(deployments["consulting"])


# ---------------------------------------------------------------------------------------------
# Configuration and secrets


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_configuration_matches_the_conventions(
    overlay: str, rendered_docs: Callable[[str], list[dict]]
) -> None:
    docs = rendered_docs(f"k8s/overlays/{overlay}")
    for name, dep in by_kind(docs, "Deployment").items():
        config = configmap_for(docs, dep)
        assert config["SALESYNC_ENV"] == "production"
        assert config["SERVICE_NAME"] == name
        assert config["PORT"] == "8080"
        # a process's entry point brings its own worker model (the stream: one worker, so one
        # tail per pod); the ConfigMap must not override it
        defaults = entry_point_environment(name)
        assert not set(defaults) & set(config), f"{name}: leave {sorted(defaults)} to app.sh"
        effective = defaults | config
        for key in ("LOG_LEVEL", "GUNICORN_WORKERS", "GUNICORN_THREADS", "HTTP_TIMEOUT_SECONDS"):
            assert effective[key], key
        assert int(effective["GUNICORN_WORKERS"]) >= 1 and int(effective["GUNICORN_THREADS"]) >= 1
        # every service answers the browser itself (CORS) behind one trusted hop (the ALB)
        assert config["CORS_ORIGINS"].startswith("https://"), name
        assert config["TRUSTED_PROXY_HOPS"] == "1", name
        assert "RATE_LIMIT_STORAGE_URI" not in config, "the Redis URL carries a token: a Secret"
        assert "DB_SCHEMA" not in config, "read by nothing: the schema is fixed per service"
        urls = {k: v for k, v in config.items() if k.endswith("_SERVICE_URL")}
        assert urls == {
            URL_VARS[callee]: f"http://{callee}.salesync.svc.cluster.local"
            for callee in CALLS[name]
        }, name
        if name in KAFKA_SERVICES:
            assert {k: config.get(k) for k in KAFKA_CONFIG} == KAFKA_CONFIG, name
            brokers = config["KAFKA_BOOTSTRAP_SERVERS"].split(",")
            assert brokers and all(b.endswith(f":{KAFKA_PORT}") for b in brokers), brokers
        else:
            assert not any(k.startswith("KAFKA_") for k in config)
        if name == "dashboard":
            assert config["AWS_REGION"] == "ap-northeast-1"
            assert "SNS_ENDPOINT_URL" not in config
        if name == "consulting":
            assert config["OPENAI_BASE_URL"].startswith("https://")
            assert config["OPENAI_MODEL"]
        for key, value in config.items():
            assert "set-in-overlay" not in value, f"{name}: {key} was not set by the overlay"
            assert not any(word in key for word in ("SECRET", "PASSWORD", "API_KEY")), key
            assert key != "DATABASE_URL"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_references_to_the_services_own_secret(
    overlay: str, rendered_docs: Callable[[str], list[dict]]
) -> None:
    docs = rendered_docs(f"k8s/overlays/{overlay}")
    assert not [d for d in docs if d["kind"] == "Secret"], "no Secret objects: ExternalSecrets only"
    external = by_kind(docs, "ExternalSecret")
    for workload in [*by_kind(docs, "Deployment").values(), *by_kind(docs, "Job").values()]:
        for container in pod_spec(workload)["containers"]:
            env = {e["name"]: e for e in container.get("env", [])}
            for var in env.values():
                assert "value" not in var or not any(
                    w in var["name"] for w in ("SECRET", "PASSWORD", "KEY", "DATABASE_URL")
                ), f"{var['name']} must come from a Secret reference"
                if "valueFrom" in var:
                    ref = var["valueFrom"]["secretKeyRef"]
                    assert ref["name"] in external, f"{ref['name']} has no ExternalSecret"
                    keys = {d["secretKey"] for d in external[ref["name"]]["spec"]["data"]}
                    assert ref["key"] in keys
            assert "AWS_ACCESS_KEY_ID" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    for name, dep in by_kind(docs, "Deployment").items():
        (container,) = pod_spec(dep)["containers"]
        refs = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in container["env"]
            if "secretKeyRef" in e.get("valueFrom", {})
        }
        assert {r["name"] for r in refs.values()} == {f"salesync-{owner(name)}"}
        expected = {"JWT_SECRET", "SERVICE_TOKEN_SECRET"}
        if name != "bff":
            expected.add("DATABASE_URL")
        if name in KAFKA_SERVICES:
            expected |= set(KAFKA_CREDENTIALS)
        if name == "store":
            expected.add("PIN_TAG_SECRET")
        if name == "consulting":
            expected.add("OPENAI_API_KEY")
            assert refs["OPENAI_API_KEY"].get("optional") is True
        if name in RATE_LIMITED:
            expected.add("RATE_LIMIT_STORAGE_URI")
            (item,) = [
                d
                for d in external[f"salesync-{name}"]["spec"]["data"]
                if d["secretKey"] == "RATE_LIMIT_STORAGE_URI"
            ]
            assert item["remoteRef"] == {
                "key": f"salesync/{overlay}/redis",
                "property": "RATE_LIMIT_STORAGE_URI",
            }
        assert set(refs) == expected, name
    for es in external.values():
        assert es["spec"]["target"]["name"] == es["metadata"]["name"]
        for item in es["spec"]["data"]:
            key = item["remoteRef"]["key"]
            if es["metadata"]["name"] == "salesync-db-bootstrap" and item["secretKey"] in {
                "ADMIN_USERNAME",
                "ADMIN_PASSWORD",
            }:
                # The RDS-managed master secret: AWS names it, the overlay holds its ARN.
                assert re.fullmatch(
                    r"arn:aws:secretsmanager:[\w-]+:\d{12}:secret:rds!db-[\w-]+", key
                )
                continue
            if item["secretKey"] in KAFKA_CREDENTIALS:
                # MSK reads SCRAM users only from secrets named AmazonMSK_...
                assert key.startswith(f"AmazonMSK_salesync/{overlay}/kafka/"), key
                assert item["remoteRef"]["property"] == KAFKA_CREDENTIALS[item["secretKey"]]
                continue
            assert key.startswith(f"salesync/{overlay}/"), key


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_kafka_client_logs_in_over_sasl_ssl_with_its_own_scram_secret(
    overlay: str, rendered_docs: Callable[[str], list[dict]]
) -> None:
    """Every workload with Kafka settings (Deployments, their migrations, the topic Job) gets
    SASL_SSL from its ConfigMap and its own user's name and password from a Secret that External
    Secrets fills from that user's AmazonMSK_ secret; the result passes the services' settings
    validation (the same that refuses a bad configuration at start)."""
    from pydantic import SecretStr

    from devstack import kafka as devstack_kafka
    from salesync_common.kafka import kafka_client_config
    from salesync_common.settings import KafkaSettings

    docs = rendered_docs(f"k8s/overlays/{overlay}")
    external = by_kind(docs, "ExternalSecret")
    workloads = {**by_kind(docs, "Deployment"), **by_kind(docs, "Job")}
    users: dict[str, str] = {}
    for name, workload in workloads.items():
        (container,) = pod_spec(workload)["containers"]
        has_config = any("configMapRef" in e for e in container.get("envFrom", []))
        config = configmap_for(docs, workload) if has_config else {}
        if "KAFKA_BOOTSTRAP_SERVERS" not in config:
            # Whatever may reach Kafka has its settings (migrations share them, not the network).
            assert pod_labels(workload).get("salesync.io/kafka") != "true", name
            continue
        env = {e["name"]: e for e in container.get("env", [])}
        refs = {k: env[k]["valueFrom"]["secretKeyRef"] for k in KAFKA_CREDENTIALS if k in env}
        assert set(refs) == set(KAFKA_CREDENTIALS), f"{name}: Kafka login from a Secret"
        (secret,) = {r["name"] for r in refs.values()}
        remote = {d["secretKey"]: d["remoteRef"] for d in external[secret]["spec"]["data"]}
        (msk_secret,) = {remote[r["key"]]["key"] for r in refs.values()}
        for variable, ref in refs.items():
            assert remote[ref["key"]]["property"] == KAFKA_CREDENTIALS[variable]
        user = msk_secret.removeprefix(f"AmazonMSK_salesync/{overlay}/kafka/")
        users[name] = user
        settings = KafkaSettings(
            **{k.lower(): v for k, v in config.items() if k.startswith("KAFKA_")},
            kafka_sasl_username=user,
            kafka_sasl_password=SecretStr("from-the-secret"),
        )
        client = kafka_client_config(settings)
        assert client is not None and client.security_protocol == "SASL_SSL", name
        assert client.kwargs()["ssl_check_hostname"] is True
    deployments = {n for n in by_kind(docs, "Deployment") if n in users}
    assert deployments == KAFKA_SERVICES
    assert {n: users[n] for n in KAFKA_SERVICES} == {n: n for n in KAFKA_SERVICES}, "own users"
    assert users["consulting-migrate"] == "consulting" and users["dashboard-migrate"] == "dashboard"
    assert users["kafka-topics"] == devstack_kafka.ADMIN_USER
    # The devstack broker has the same users, so the local stack runs as production does.
    assert set(devstack_kafka.SERVICE_USERS) == KAFKA_SERVICES


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_topic_job_runs_the_shared_topic_tool_in_the_consulting_image(
    overlay: str, rendered_docs: Callable[[str], list[dict]]
) -> None:
    docs = rendered_docs(f"k8s/overlays/{overlay}")
    job = by_kind(docs, "Job")["kafka-topics"]
    (container,) = pod_spec(job)["containers"]
    (app,) = pod_spec(by_kind(docs, "Deployment")["consulting"])["containers"]
    assert container["image"] == app["image"]
    assert container["command"] == ["python", "-m", "salesync_common.kafka_topics"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    args = [
        re.sub(r"\$\((\w+)\)", lambda m: str(env[m.group(1)]), arg) for arg in container["args"]
    ]
    assert args[3:] == ["consulting.results", "menu.items", "orders.events"]
    replicas = int(args[1].removeprefix("--replication-factor="))
    min_insync = int(args[2].removeprefix("--config=min.insync.replicas="))
    assert args[0] == "--partitions=3"
    assert 1 <= min_insync < replicas, "a write survives one broker down"
    assert replicas == (2 if overlay == "dev" else 3), "one replica per broker (one per zone)"


def test_no_secret_with_literal_data_anywhere_in_the_repository() -> None:
    files = [
        p
        for folder in ("k8s", "observability")
        for p in (REPO / folder).rglob("*")
        if p.suffix in {".yaml", ".yml"}
    ] + [REPO / "docker-compose.yml"]
    parsed = parse_files(files)
    for path, docs in parsed.items():
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "Secret":
                assert not doc.get("data") and not doc.get("stringData"), path
    for path in files + sorted((REPO / "k8s").rglob("*.env")):
        text = path.read_text()
        assert "PRIVATE KEY-----" not in text, path
        assert not re.search(r"\bsk-[A-Za-z0-9_-]{20,}", text), f"{path}: an OpenAI key?"
        assert not re.search(r"\bAKIA[0-9A-Z]{16}\b", text), f"{path}: an AWS access key id?"
        assert "aws_secret_access_key" not in text.lower(), path


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_dashboard_gets_an_aws_role(
    overlay: str, rendered_docs: Callable[[str], list[dict]]
) -> None:
    accounts = by_kind(rendered_docs(f"k8s/overlays/{overlay}"), "ServiceAccount")
    with_role = {
        name
        for name, sa in accounts.items()
        if "eks.amazonaws.com/role-arn" in sa["metadata"].get("annotations", {})
    }
    assert with_role == {"dashboard", "secrets-reader"}
    role = accounts["dashboard"]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role.endswith(f"salesync-{overlay}-dashboard-sns")


# ---------------------------------------------------------------------------------------------
# Network policies: evaluate them for every pair of workloads


def _selects(selector: dict, labels: dict[str, str]) -> bool:
    assert not selector.get("matchExpressions"), "keep selectors to matchLabels"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_allows_pod(peer: dict, labels: dict[str, str]) -> bool:
    # Same-namespace pod peers only (a namespaceSelector peer is another namespace).
    if "namespaceSelector" in peer or "ipBlock" in peer:
        return False
    return _selects(peer.get("podSelector", {}), labels)


def _port_ok(rule: dict, port: int) -> bool:
    ports = rule.get("ports")
    return not ports or any(p.get("port") == port for p in ports)


def _allowed(policies: list[dict], src: dict[str, str], dst: dict[str, str], port: int) -> bool:
    def direction(labels: dict[str, str], kind: str, other: dict[str, str]) -> bool:
        selecting = [
            p
            for p in policies
            if kind in p["spec"]["policyTypes"] and _selects(p["spec"]["podSelector"], labels)
        ]
        assert selecting, f"no {kind} policy selects {labels}: default deny must cover every pod"
        key, peers = ("ingress", "from") if kind == "Ingress" else ("egress", "to")
        return any(
            _port_ok(rule, port)
            and any(_peer_allows_pod(peer, other) for peer in rule.get(peers, []))
            for p in selecting
            for rule in p["spec"].get(key, [])
        )

    return direction(src, "Egress", dst) and direction(dst, "Ingress", src)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_allow_exactly_the_documented_calls(
    overlay: str, rendered_docs: Callable[[str], list[dict]]
) -> None:
    docs = rendered_docs(f"k8s/overlays/{overlay}")
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    default_deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert default_deny, "a default-deny policy for the namespace"
    workloads = {n: pod_labels(d) for n, d in by_kind(docs, "Deployment").items()}
    workloads |= {f"job/{n}": pod_labels(d) for n, d in by_kind(docs, "Job").items()}
    for src_name, src in workloads.items():
        for dst_name in WORKLOADS:
            allowed = _allowed(policies, src, workloads[dst_name], 8080)
            expected = src_name in CALLS and dst_name in CALLS[src_name]
            assert allowed == expected, f"{src_name} -> {dst_name}: allowed={allowed}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_for_ingress_data_stores_and_internet(
    overlay: str, rendered_docs: Callable[[str], list[dict]]
) -> None:
    docs = rendered_docs(f"k8s/overlays/{overlay}")
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    workloads = {n: pod_labels(d) for n, d in by_kind(docs, "Deployment").items()}
    workloads |= {f"job/{n}": pod_labels(d) for n, d in by_kind(docs, "Job").items()}

    def ip_rules(labels: dict[str, str], key: str) -> list[tuple[str, set[int]]]:
        out = []
        for p in policies:
            if not _selects(p["spec"]["podSelector"], labels):
                continue
            for rule in p["spec"].get(key, []):
                peers = rule.get("from" if key == "ingress" else "to", [])
                ports = {int(x["port"]) for x in rule.get("ports", [])}
                out += [(peer["ipBlock"]["cidr"], ports) for peer in peers if "ipBlock" in peer]
        return out

    for name, labels in workloads.items():
        ingress = ip_rules(labels, "ingress")
        if name in UPSTREAMS:
            # the ALB sends each public prefix straight to its service (or its stream process)
            assert ingress == [(ALB_SUBNETS, {8080})], "the ALB's public subnets only"
        else:
            assert ingress == [], f"{name} must not be reachable from outside the cluster"
        egress = ip_rules(labels, "egress")
        db = labels.get("salesync.io/postgres") == "true"
        kafka = labels.get("salesync.io/kafka") == "true"
        redis = labels.get("salesync.io/redis") == "true"
        assert redis == (name in RATE_LIMITED), name
        expected = set()
        if db:
            expected.add(("10.20.16.0/21", frozenset({5432})))
        if kafka:
            expected.add(("10.20.16.0/21", frozenset({KAFKA_PORT})))
        if redis:
            expected.add(("10.20.16.0/21", frozenset({6379})))
        if name in INTERNET_SERVICES:
            expected.add(("0.0.0.0/0", frozenset({443})))
        assert {(c, frozenset(p)) for c, p in egress} == expected, name
        base = owner(name.removeprefix("job/").removesuffix("-migrate"))
        assert db == (base in DB_SERVICES or base == "db-bootstrap"), name
        assert kafka == (name in KAFKA_SERVICES or name == "job/kafka-topics"), name

    dns = [p for p in policies if p["spec"]["podSelector"] == {} and p["spec"].get("egress")]
    assert any(
        {x["port"] for x in rule["ports"]} == {53} for p in dns for rule in p["spec"]["egress"]
    ), "every pod may resolve names"
    scrape = [
        rule
        for p in policies
        for rule in p["spec"].get("ingress", [])
        for peer in rule["from"]
        if peer.get("namespaceSelector", {}).get("matchLabels", {}) == MONITORING_NS
    ]
    assert scrape and all({x["port"] for x in r["ports"]} == {8080} for r in scrape)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ingress_follows_the_route_table(
    overlay: str, rendered_docs: Callable[[str], list[dict]]
) -> None:
    """One ALB (one ingress group) whose rules are salesync_common.routing's table: each public
    prefix to its service, /internal and /metrics a fixed JSON 404, everything else the BFF."""
    docs = rendered_docs(f"k8s/overlays/{overlay}")
    ingresses = by_kind(docs, "Ingress")
    annotations = {name: i["metadata"]["annotations"] for name, i in ingresses.items()}
    group = "alb.ingress.kubernetes.io/"
    shared = {
        key: value
        for key, value in annotations[DEFAULT_SERVICE].items()
        if key.startswith(group) and not key.startswith((f"{group}group.order", f"{group}actions."))
    }
    assert shared[f"{group}group.name"] == "salesync"
    assert shared[f"{group}scheme"] == "internet-facing"
    assert shared[f"{group}certificate-arn"].startswith("arn:aws:acm:")
    assert shared[f"{group}healthcheck-path"] == "/healthz"
    hosts = set()
    rules: dict[str, tuple[str, dict, int]] = {}  # path -> (ingress, backend, group order)
    for name, ingress in ingresses.items():
        for key, value in shared.items():
            assert annotations[name][key] == value, f"{name}: {key} differs within the group"
        assert ingress["spec"]["ingressClassName"] == "alb"
        order = int(annotations[name][f"{group}group.order"])
        for rule in ingress["spec"]["rules"]:
            hosts.add(rule["host"])
            for path in rule["http"]["paths"]:
                assert path["pathType"] == "Prefix"
                assert path["path"] not in rules, f"{path['path']} routed twice"
                rules[path["path"]] = (name, path["backend"]["service"], order)
    (host,) = hosts  # one origin for the frontend
    assert "set-in-overlay" not in host

    expected = {route.prefix: route.upstream for route in ROUTES}
    expected |= dict.fromkeys(BLOCKED_PREFIXES, "blocked")
    expected["/"] = DEFAULT_SERVICE
    assert {path: backend["name"] for path, (_n, backend, _o) in rules.items()} == expected
    for route in ROUTES:
        assert rules[route.prefix][1] == {"name": route.upstream, "port": {"name": "http"}}
        assert ingresses[rules[route.prefix][0]]["metadata"]["name"] == route.upstream
    # ALB rules go by priority, not by the longest prefix: a sub-route (/orders/stream) must be
    # tried before the prefix that covers it (/orders), i.e. a lower group.order
    for inner in ROUTES:
        for outer in ROUTES:
            if inner.prefix.startswith(outer.prefix + "/"):
                assert rules[inner.prefix][2] < rules[outer.prefix][2], (inner, outer)
    # the load balancer's idle timeout (one for the group) never cuts a quiet stream
    attributes = dict(
        item.split("=", 1) for item in shared[f"{group}load-balancer-attributes"].split(",")
    )
    idle_timeout = int(attributes["idle_timeout.timeout_seconds"])
    deployments = by_kind(docs, "Deployment")
    for route in (r for r in ROUTES if r.stream):
        config = configmap_for(docs, deployments[route.upstream])
        package_config = importlib.import_module(f"{SERVICES[route.service][0]}.config")
        default = package_config.Settings.model_fields["stream_heartbeat_seconds"].default
        heartbeat = float(config.get("STREAM_HEARTBEAT_SECONDS", default))
        assert idle_timeout >= 2 * heartbeat, "a lost heartbeat must not end the stream"
        # an open stream is an outstanding request: new ones go to the least loaded pod
        target_group = annotations[route.upstream][f"{group}target-group-attributes"]
        assert "load_balancing.algorithm.type=least_outstanding_requests" in target_group
    # the catch-all is the ALB's last rule: after every prefix of every service's Ingress
    catch_all_order = rules["/"][2]
    assert all(
        order < catch_all_order
        for _path, (name, _backend, order) in rules.items()
        if name != DEFAULT_SERVICE
    )
    bff_paths = [
        p["path"] for r in ingresses[DEFAULT_SERVICE]["spec"]["rules"] for p in r["http"]["paths"]
    ]
    assert bff_paths[-1] == "/", "within the BFF's Ingress too, / comes last"
    for prefix in BLOCKED_PREFIXES:
        ingress_name, backend, _order = rules[prefix]
        assert backend == {"name": "blocked", "port": {"name": "use-annotation"}}
        action = json.loads(annotations[ingress_name][f"{group}actions.blocked"])
        assert action["type"] == "fixed-response"
        fixed = action["fixedResponseConfig"]
        assert fixed["statusCode"] == "404" and fixed["contentType"] == "application/json"
        assert json.loads(fixed["messageBody"])["result"] == "failed"
    assert all(
        s["spec"].get("type", "ClusterIP") == "ClusterIP" for s in by_kind(docs, "Service").values()
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_prometheus_scrapes_every_service(
    overlay: str, rendered_docs: Callable[[str], list[dict]]
) -> None:
    docs = rendered_docs(f"k8s/overlays/{overlay}")
    (monitor,) = by_kind(docs, "ServiceMonitor").values()
    selector = monitor["spec"]["selector"]
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["path"] == "/metrics"
    for name, svc in by_kind(docs, "Service").items():
        assert _selects(selector, svc["metadata"]["labels"]), name
        assert endpoint["port"] in {p["name"] for p in svc["spec"]["ports"]}


def test_namespace_enforces_restricted_pod_security(
    rendered_docs: Callable[[str], list[dict]],
) -> None:
    for overlay in OVERLAYS:
        (ns,) = by_kind(rendered_docs(f"k8s/overlays/{overlay}"), "Namespace").values()
        assert ns["metadata"]["name"] == "salesync"
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# ---------------------------------------------------------------------------------------------
# ArgoCD


@pytest.mark.parametrize("env", OVERLAYS)
def test_argocd_app_of_apps_points_at_the_overlays(
    env: str, rendered_docs: Callable[[str], list[dict]]
) -> None:
    root = parse_files([REPO / "k8s" / "argocd" / env / "root.yaml"])
    (root_app,) = next(iter(root.values()))
    assert root_app["spec"]["source"]["path"] == f"k8s/argocd/{env}/apps"
    apps = by_kind(rendered_docs(f"k8s/argocd/{env}/apps"), "Application")
    main = apps[f"salesync-{env}"]
    assert main["spec"]["source"]["path"] == f"k8s/overlays/{env}"
    assert main["spec"]["destination"]["namespace"] == "salesync"
    assert main["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    repo_url = main["spec"]["source"]["repoURL"]
    for app in apps.values():
        sources = app["spec"].get("sources") or [app["spec"]["source"]]
        for src in sources:
            if src["repoURL"] == repo_url and "path" in src:
                assert (REPO / src["path"]).is_dir(), src["path"]
            for values in src.get("helm", {}).get("valueFiles", []):
                assert (REPO / values.removeprefix("$values/")).is_file(), values
            if "chart" in src:
                version = src["targetRevision"]
                assert version[0].isdigit() and "*" not in version, "pin chart versions"


# ---------------------------------------------------------------------------------------------
# k8s/configure-env.sh (Terraform outputs -> environment.env files)


def test_configure_env_points_an_environment_at_terraform_outputs(tmp_path: Path) -> None:
    kustomize = require_tool("kustomize")
    shellcheck = require_tool("shellcheck")
    script = REPO / "k8s" / "configure-env.sh"
    assert os.access(script, os.X_OK)
    lint = run([shellcheck, script])
    assert lint.returncode == 0, lint.stdout
    shutil.copytree(REPO / "k8s", tmp_path / "k8s")
    account = "444455556666"
    role = f"arn:aws:iam::{account}:role/salesync-prd"
    values = {
        "API_HOSTNAME": "api.pos.example.org",
        "CERTIFICATE_ARN": f"arn:aws:acm:ap-northeast-1:{account}:certificate/abc",
        "KAFKA_BOOTSTRAP_SERVERS": "b-1.x.kafka.ap-northeast-1.amazonaws.com:9096",
        "DASHBOARD_ROLE_ARN": f"{role}-dashboard-sns",
        "SECRETS_READER_ROLE_ARN": f"{role}-secrets-reader",
        "RDS_MASTER_SECRET_ARN": f"arn:aws:secretsmanager:ap-northeast-1:{account}:secret:rds!db-1",
        "VPC_ID": "vpc-0abc",
        "LB_CONTROLLER_ROLE_ARN": f"{role}-aws-load-balancer-controller",
        "FLUENT_BIT_ROLE_ARN": f"{role}-fluent-bit",
        "ECR_REGISTRY": f"{account}.dkr.ecr.ap-northeast-1.amazonaws.com",
        "REPO_URL": "https://github.com/example/salesync.git",
    }
    env = {"PATH": f"{kustomize.parent}:{os.environ['PATH']}", **values}
    for _attempt in range(2):  # re-running with the same outputs changes nothing
        proc = subprocess.run(
            ["sh", str(tmp_path / "k8s" / "configure-env.sh"), "prd"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    rendered_overlay = run([kustomize, "build", tmp_path / "k8s" / "overlays" / "prd"]).stdout
    rendered_apps = run([kustomize, "build", tmp_path / "k8s" / "argocd" / "prd" / "apps"]).stdout
    root = (tmp_path / "k8s" / "argocd" / "prd" / "root.yaml").read_text()
    for key in ("API_HOSTNAME", "CERTIFICATE_ARN", "KAFKA_BOOTSTRAP_SERVERS", "DASHBOARD_ROLE_ARN"):
        assert values[key] in rendered_overlay, key
    assert rendered_overlay.count(values["RDS_MASTER_SECRET_ARN"]) == 2
    images = rendered_overlay.count(f"image: {values['ECR_REGISTRY']}/salesync-")
    assert images == len(WORKLOADS) + len(DB_SERVICES) + 1, "Deployments, migrations, kafka-topics"
    assert "123456789012" not in rendered_overlay
    assert "CORS_ORIGINS: https://pos.pos.example.org" in rendered_overlay
    for key in ("VPC_ID", "LB_CONTROLLER_ROLE_ARN", "FLUENT_BIT_ROLE_ARN", "REPO_URL"):
        assert values[key] in rendered_apps, key
    assert "github.com/salesync/salesync" not in rendered_apps
    assert f"repoURL: {values['REPO_URL']}" in root
